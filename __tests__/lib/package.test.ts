// What `npm pack` ships, and that the packed library works on its own: it finds the
// deploy scripts, target scripts, template and schema inside the package.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

jest.setTimeout(180_000);
const root = path.resolve(__dirname, "..", "..");

describe("npm pack", () => {
  let tmp: string;
  let files: string[];
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ni-pack-"));
    const out = execFileSync("npm", ["pack", "--json", "--pack-destination", tmp], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const [pack] = JSON.parse(out.slice(out.indexOf("[")));
    files = pack.files.map((f: { path: string }) => f.path);
    execFileSync("tar", ["-xzf", path.join(tmp, pack.filename), "-C", tmp]);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test("ships the compiled library with its declarations, the scripts, the template and the schema", () => {
    expect(files).toEqual(
      expect.arrayContaining([
        "dist/lib/index.js",
        "dist/lib/index.d.ts",
        "dist/lib/nixos-install.d.ts",
        "lib/scripts/common.sh",
        ...["probe", "kexec", "install", "unlock", "verify"].map((p) => `lib/scripts/phase-${p}.sh`),
        "nix/installer/write-runtime-info",
        "nix/installer/run-installer",
        "nix/installer/do-install",
        "nix/installer/unlock",
        "nix/templates/host/flake.nix",
        "schema/runtime-info.v1.schema.json",
      ]),
    );
  });

  test("ships no tests, no TypeScript sources and nothing of the lab", () => {
    // node_modules/ holds the bundled ajv (jsii requires non-jsii dependencies bundled).
    expect(files.filter((f) => !f.startsWith("node_modules/") && /__tests__|^lab\/|^examples\/|^bench\/|(?<!\.d)\.ts$/.test(f))).toEqual([]);
  });

  test("the packed library synthesizes an install chain from its own files", () => {
    const pkg = path.join(tmp, "package");
    const script = `
      const { App, TerraformStack } = require("cdktf");
      const lib = require(${JSON.stringify(path.join(pkg, "dist", "lib"))});
      const app = new App({ outdir: ${JSON.stringify(path.join(tmp, "out"))} });
      const stack = new TerraformStack(app, "s");
      new lib.NixosInstall(stack, "h", {
        host: "203.0.113.10", hostName: "web-1", trustOnFirstUse: true,
        authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUser0000000000000000000000000000000000000000"],
        passphrase: lib.PassphraseSource.fromEnv("P"),
        bundle: lib.KexecBundle.fromUrl({ url: "https://example.org/k.tar.gz", sha256: "a".repeat(64), system: "x86_64-linux" }),
      });
      app.synth();`;
    execFileSync("node", ["-e", script], { cwd: tmp, env: { ...process.env, NODE_PATH: path.join(root, "node_modules") } });
    const assets = path.join(tmp, "out", "stacks", "s", "assets");
    const shipped = fs.readdirSync(assets).flatMap((a) => fs.readdirSync(path.join(assets, a)).flatMap((h) => fs.readdirSync(path.join(assets, a, h))));
    expect(shipped).toEqual(expect.arrayContaining(["phase-probe.sh", "common.sh", "do-install", "unlock", "flake.nix"]));
  });
});
