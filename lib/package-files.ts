import * as fs from "fs";
import * as path from "path";

/**
 * The root of this package, found from the running file whether it runs compiled
 * (dist/lib) or from source (lib, through ts-node or ts-jest).
 */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, "utf8")).name === "cdktf-nixos-installer") return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cdktf-nixos-installer: cannot find the package root above ${__dirname}; reinstall the package`);
    dir = parent;
  }
}

/** Files shipped beside the library. */
export const packageFiles = {
  deployScripts: () => path.join(packageRoot(), "lib", "scripts"),
  targetScripts: () => path.join(packageRoot(), "nix", "installer"),
  hostTemplate: () => path.join(packageRoot(), "nix", "templates", "host"),
  runtimeInfoSchema: () => path.join(packageRoot(), "schema", "runtime-info.v1.schema.json"),
};
