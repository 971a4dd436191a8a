#!/usr/bin/env node
// Compiles the library with jsii (the multi-language toolchain of construct libraries)
// and writes API.md from the assembly with jsii-docgen (docs/decisions/library-jsii.md).
//
//   node scripts/api-docs.js           (npm run api)   rewrite API.md
//   node scripts/api-docs.js --check                  fail when API.md is not current
//
// It works in a temporary copy of the sources, so the checkout's dist/ and package.json
// are never touched; jsii and jsii-docgen errors are printed as they are.
"use strict";
const { spawnSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const root = path.resolve(__dirname, "..");
const check = process.argv.includes("--check");

function fail(message) {
  process.stderr.write(`api-docs: ${message}\n`);
  process.exit(1);
}

function run(cwd, bin, args) {
  const r = spawnSync(process.execPath, [path.join(root, "node_modules", bin), ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, JSII_SILENCE_WARNING_DEPRECATED_NODE_RELEASE: "1" },
  });
  if (r.status !== 0) fail(`${path.basename(bin)} ${args.join(" ")} failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return r;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "ni-jsii-"));
try {
  for (const entry of ["lib", ".gen", "tsconfig.jsii.json", "README.md", "LICENSE"]) {
    fs.cpSync(path.join(root, entry), path.join(work, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, "node_modules"), path.join(work, "node_modules"));
  // The assembly describes the cdktf build: jsii resolves every peer to its assembly, and
  // the cdktn build is the same API over another module name.
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  delete pkg.peerDependencies.cdktn;
  delete pkg.peerDependenciesMeta.cdktn;
  fs.writeFileSync(path.join(work, "package.json"), JSON.stringify(pkg, null, 2));

  run(work, "jsii/bin/jsii", ["--silence-warnings=reserved-word", "--no-fix-peer-dependencies"]);
  // The root module only: the hcloud submodule is the provider's own schema, 73 types.
  run(work, "jsii-docgen/bin/jsii-docgen", ["--submodule", "root", "--output", "API.md"]);
  const api = fs.readFileSync(path.join(work, "API.md"), "utf8");
  const committed = path.join(root, "API.md");
  if (check) {
    const current = fs.existsSync(committed) ? fs.readFileSync(committed, "utf8") : "";
    if (current !== api) fail("API.md is not what jsii-docgen makes of the library: run `npm run api` and commit API.md");
    process.stdout.write("api-docs: jsii compiled the library; API.md is current\n");
  } else {
    fs.writeFileSync(committed, api);
    process.stdout.write(`api-docs: jsii compiled the library; wrote API.md (${api.length} bytes)\n`);
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
