#!/usr/bin/env node
// The cdktn build of the library (docs/decisions/library-packaging.md): dist/lib and
// dist/.gen copied to dist/cdktn/ with every import of the module "cdktf" turned into
// "cdktn", in the JavaScript and in the declarations. Same code, same API, the core a
// cdktn project has; `npm run build` runs this after tsc.
"use strict";
const fs = require("fs");
const path = require("path");

const dist = path.resolve(__dirname, "..", "dist");
const out = path.join(dist, "cdktn");
// require("cdktf"), from "cdktf", import("cdktf"), import "cdktf": module names only.
const SPECIFIER = /(\brequire\(\s*|\bfrom\s+|\bimport\(\s*|\bimport\s+)(["'])cdktf\2/g;

function copy(from, to) {
  let rewritten = 0;
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) {
      rewritten += copy(src, dst);
    } else if (/\.(js|d\.ts)$/.test(entry.name)) {
      const text = fs.readFileSync(src, "utf8");
      const next = text.replace(SPECIFIER, (_m, head, quote) => `${head}${quote}cdktn${quote}`);
      if (next !== text) rewritten++;
      fs.writeFileSync(dst, next);
    }
  }
  return rewritten;
}

for (const dir of ["lib", ".gen"]) {
  if (!fs.existsSync(path.join(dist, dir))) {
    process.stderr.write(`build-cdktn-flavour: ${path.join(dist, dir)} is missing; run tsc -p tsconfig.build.json first\n`);
    process.exit(1);
  }
}
fs.rmSync(out, { recursive: true, force: true });
const count = copy(path.join(dist, "lib"), path.join(out, "lib")) + copy(path.join(dist, ".gen"), path.join(out, ".gen"));
process.stdout.write(`build-cdktn-flavour: dist/cdktn/ written, ${count} files import cdktn\n`);
