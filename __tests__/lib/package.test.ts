// What `npm pack` ships, and that the packed library works where users put it: on its
// own (it finds its scripts, template and schema inside the package), and installed into
// a new project laid out as `cdktf init --template=typescript` does, once with cdktf and
// once with cdktn, each with the newest constructs its core accepts and no npm override.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

jest.setTimeout(300_000);
const root = path.resolve(__dirname, "..", "..");

let tmp: string;
let tarball: string;
let files: string[];
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ni-pack-"));
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", tmp], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const [pack] = JSON.parse(out.slice(out.indexOf("[")));
  files = pack.files.map((f: { path: string }) => f.path);
  tarball = path.join(tmp, pack.filename);
  execFileSync("tar", ["-xzf", tarball, "-C", tmp]);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("npm pack", () => {
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

  test("ships the command-line tool as the bin cdktf-nixos-installer, with the scripts it runs", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(tmp, "package", "package.json"), "utf8"));
    expect(manifest.bin).toEqual({ "cdktf-nixos-installer": "dist/lib/cli/main.js" });
    expect(files).toEqual(expect.arrayContaining(["dist/lib/cli/main.js", "lib/scripts/host-role.sh", "lib/scripts/host-ssh.sh", "lib/scripts/phase-unlock.sh"]));
  });

  test("the bin runs from the package alone, with neither cdktf nor cdktn to load (so it serves both builds)", () => {
    const pkg = path.join(tmp, "package");
    const work = fs.mkdtempSync(path.join(tmp, "cli-"));
    // No NODE_PATH, and no node_modules above the unpacked package but its bundled ajv.
    const env = { PATH: process.env.PATH };
    const help = spawnSync("node", [path.join(pkg, "dist", "lib", "cli", "main.js"), "unlock", "--help"], { cwd: work, env, encoding: "utf8" });
    expect(help.stderr).toBe("");
    expect(help.stdout).toMatch(/^Usage: cdktf-nixos-installer unlock NAME/);
    // It finds its own scripts in the package: a status of an unreachable host runs host-role.sh.
    const dir = path.join(work, "hosts", "web-1");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "connection.json"), JSON.stringify({ version: 1, host: "127.0.0.1", port: 9, unlockPort: 7, user: "root", pool: "rpool", identityFile: null, passphrase: { kind: "env", ref: "D" }, phaseAddresses: "" }));
    const status = spawnSync("node", [path.join(pkg, "dist", "lib", "cli", "main.js"), "status"], { cwd: work, env, encoding: "utf8" });
    expect(status.stdout).toBe("HOST   ADDRESS        ROLE\nweb-1  127.0.0.1:9,7  down\n");
    expect(status.status).toBe(0);
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

// ---- a user's new project ---------------------------------------------------------

/** npm without retries: a registry that cannot be reached fails in seconds, not minutes. */
const NPM_FLAGS = ["--no-audit", "--no-fund", "--prefer-offline", "--fetch-retries=0", "--fetch-timeout=20000"];
const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0b3RoZXJrZXlzYXJlYmV0dGVydGhhbnRoaXNvbmVwbA admin@example";

interface Core {
  /** The core's module name. */
  readonly core: "cdktf" | "cdktn";
  /** The library's entry point for it. */
  readonly entry: string;
  /** What `cdktf init` (or its cdktn counterpart) installs: the core, then constructs. */
  readonly install: string[][];
}
const CORES: Core[] = [
  // cdktf init runs `npm install cdktf@<cli version> constructs@10`: the newest constructs.
  { core: "cdktf", entry: "cdktf-nixos-installer", install: [["cdktf@0.21.0", "constructs@10"]] },
  // cdktn accepts constructs >=10.6 <10.8; npm adds the newest of those as its peer.
  { core: "cdktn", entry: "cdktf-nixos-installer/cdktn", install: [["cdktn@0.24.0"]] },
];

/** Why the registry (or npm's cache) cannot give the cores, or undefined when it can. */
function registryProblem(): string | undefined {
  const r = spawnSync("npm", ["view", ...NPM_FLAGS, "cdktf@0.21.0", "cdktn@0.24.0", "constructs@10", "version"], { encoding: "utf8" });
  return r.status === 0 ? undefined : `npm cannot fetch cdktf, cdktn and constructs (no registry and not in npm's cache): ${r.stderr.trim().split("\n").pop()}`;
}
const skipReason = registryProblem();
if (skipReason) process.stderr.write(`__tests__/lib/package.test.ts: skipping the new-project tests: ${skipReason}\n`);

/** The two-host stack of a user: one Hetzner server on a private network, one existing host. */
function mainTs(c: Core): string {
  return `import { Construct } from "constructs";
import { App, TerraformOutput, TerraformStack, Token } from "${c.core}";
import { HcloudNixosServer, KexecBundle, NixosInstall, PassphraseSource } from "${c.entry}";
import { network, networkSubnet, sshKey } from "${c.entry}/hcloud";
import { Server } from "${c.entry}/hcloud/server";

const ADMIN = "${ADMIN_KEY}";
const BUNDLE = KexecBundle.fromUrl({ url: "https://example.org/kexec.tar.gz", sha256: "a".repeat(64), system: "x86_64-linux" });

class MyStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const net = new network.Network(this, "net", { name: "fleet", ipRange: "10.0.0.0/16" });
    const subnet = new networkSubnet.NetworkSubnet(this, "subnet", { networkId: Token.asNumber(net.id), type: "cloud", networkZone: "eu-central", ipRange: "10.0.1.0/24" });
    const key = new sshKey.SshKey(this, "admin", { name: "admin", publicKey: ADMIN });
    const web = new HcloudNixosServer(this, "web-1", {
      hostName: "web-1", serverType: "cx23", location: "fsn1", sshKeyIds: [key.id], authorizedKeys: [ADMIN],
      privateNetwork: { networkId: Token.asNumber(net.id), ipRange: "10.0.1.0/24", ip: "10.0.1.11", subnet },
      passphrase: PassphraseSource.fromEnv("WEB_1_DISK"), bundle: BUNDLE,
    });
    const server: Server = web.server;
    const db = new NixosInstall(this, "db-1", {
      host: "203.0.113.20", trustOnFirstUse: true, authorizedKeys: [ADMIN], hostName: "db-1",
      passphrase: PassphraseSource.fromCommand("pass show hosts/db-1/disk"), bundle: BUNDLE,
    });
    new TerraformOutput(this, "web-1-ipv4", { value: server.ipv4Address });
    new TerraformOutput(this, "web-1-verified", { value: web.install.verified.id });
    new TerraformOutput(this, "db-1-verify-address", { value: db.phaseAddresses.verify });
  }
}

const app = new App();
new MyStack(app, "fleet");
app.synth();
`;
}

/** Three hosts, each with one mistake. */
function badTs(c: Core): string {
  return `import { App, TerraformStack } from "${c.core}";
import { KexecBundle, NixosInstall, PassphraseSource } from "${c.entry}";

const app = new App();
const stack = new TerraformStack(app, "fleet");
const common = {
  authorizedKeys: ["${ADMIN_KEY}"],
  trustOnFirstUse: true,
  passphrase: PassphraseSource.fromEnv("DISK"),
  bundle: KexecBundle.fromUrl({ url: "https://example.org/kexec.tar.gz", sha256: "a".repeat(64), system: "x86_64-linux" }),
};
new NixosInstall(stack, "web-1", { ...common, host: "203.0.113.10", hostName: "Web_1" });
new NixosInstall(stack, "web-2", { ...common, host: "203.0.113.11:22", hostName: "web-2" });
new NixosInstall(stack, "web-3", { ...common, host: "203.0.113.12", hostName: "web-3", port: 0 });
app.synth();
`;
}

/** The files `cdktf init --template=typescript` writes (its tsconfig.json verbatim), with our stack as main.ts. */
function layOutProject(dir: string, c: Core): void {
  const template = path.join(root, "node_modules", "cdktf-cli", "bundle", "templates", "typescript");
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(template, "tsconfig.json"), path.join(dir, "tsconfig.json"));
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: `new-${c.core}-project`, version: "1.0.0", main: "main.js", types: "main.ts", private: true }, null, 2));
  fs.writeFileSync(path.join(dir, "cdktf.json"), JSON.stringify({ language: "typescript", app: "npx ts-node main.ts", projectId: "test", sendCrashReports: "false", terraformProviders: [], terraformModules: [], context: {} }, null, 2));
  fs.writeFileSync(path.join(dir, "main.ts"), mainTs(c));
  fs.writeFileSync(path.join(dir, "bad.ts"), badTs(c));
}

const run = (cwd: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1", ...env } });
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
const cdktfCli = path.join(root, "node_modules", ".bin", "cdktf");
/** The `[path] message` lines of a failed synth (the cdktf CLI prints the error twice: log and exit). */
const validationLines = (output: string) => [...new Set(output.split("\n").filter((l) => /^\s+\[fleet\//.test(l)).map((l) => l.trim()))];

const stacks: Partial<Record<Core["core"], any>> = {};

(skipReason ? describe.skip : describe).each(CORES)("a new $core project that installs the packed library", (c) => {
  let dir: string;
  beforeAll(() => {
    dir = path.join(tmp, `project-${c.core}`);
    layOutProject(dir, c);
    for (const packages of [...c.install, [tarball]]) {
      const r = run(dir, "npm", ["install", ...NPM_FLAGS, ...packages]);
      if (r.status !== 0) throw new Error(`npm install ${packages.join(" ")} failed:\n${r.stderr}`);
    }
  });

  test("gets one constructs (the newest its core accepts), one core, and no cdktf beside cdktn", () => {
    const found = run(dir, "npm", ["ls", "constructs", "--all", "--parseable"]).stdout.trim().split("\n");
    expect(found.map((p) => path.relative(dir, p))).toEqual([path.join("node_modules", "constructs")]);
    const version = JSON.parse(fs.readFileSync(path.join(dir, "node_modules", "constructs", "package.json"), "utf8")).version;
    expect(version).toMatch(c.core === "cdktf" ? /^10\.(8|9|\d\d)\./ : /^10\.7\./);
    expect(fs.existsSync(path.join(dir, "node_modules", c.core))).toBe(true);
    expect(fs.existsSync(path.join(dir, "node_modules", c.core === "cdktf" ? "cdktn" : "cdktf"))).toBe(false);
  });

  test("type-checks and compiles with the template's tsconfig (types from its own core and constructs)", () => {
    const r = run(dir, process.execPath, [tsc, "-p", "."]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  test("synthesizes the two-host stack", () => {
    // cdktf: through `cdktf synth`; cdktn: the app itself (cdktn-cli needs Node >= 22.19).
    const r = c.core === "cdktf" ? run(dir, cdktfCli, ["synth", "--app", "node main.js"]) : run(dir, process.execPath, ["main.js"]);
    if (r.status !== 0) throw new Error(`synth failed:\n${r.stdout}\n${r.stderr}`);
    const stackDir = path.join(dir, "cdktf.out", "stacks", "fleet");
    const doc = JSON.parse(fs.readFileSync(path.join(stackDir, "cdk.tf.json"), "utf8"));
    const phases = Object.values<any>(doc.resource.terraform_data);
    expect(phases.filter((p) => p.triggers_replace.phase === "probe").map((p) => p.triggers_replace.host_name).sort()).toEqual(["db-1", "web-1"]);
    expect(phases).toHaveLength(10);
    expect(Object.keys(doc.resource).sort()).toEqual(["hcloud_network", "hcloud_network_subnet", "hcloud_server", "hcloud_ssh_key", "terraform_data", "tls_private_key"]);
    expect(doc.terraform.required_providers).toEqual({ hcloud: { source: "hetznercloud/hcloud", version: "1.59.0" }, tls: { source: "hashicorp/tls", version: "4.1.0" } });
    expect(Object.keys(doc.output).sort()).toEqual(["db-1-verify-address", "web-1-ipv4", "web-1-verified"]);
    // The deploy scripts came out of the installed package into the stack's assets.
    const assets = path.join(stackDir, "assets");
    expect(fs.readdirSync(assets).sort()).toEqual(["nixos-install-deploy-scripts", "nixos-install-host-template", "nixos-install-target-scripts"]);
    delete doc["//"];
    delete doc.terraform.backend;
    stacks[c.core] = doc;
  });

  test("a stack with three invalid hosts prints three errors with their construct paths in one synth", () => {
    // bad.js was compiled with main.js above.
    const r = c.core === "cdktf" ? run(dir, cdktfCli, ["synth", "--app", "node bad.js"]) : run(dir, process.execPath, ["bad.js"]);
    expect(r.status).not.toBe(0);
    expect(validationLines(r.stdout + r.stderr)).toEqual([
      "[fleet/web-1] `hostName` must be a valid hostname (a-z, 0-9, '-', at most 63, no '-' at either end), got: `Web_1`",
      "[fleet/web-2] `host` must be an IP address or DNS name (no port: set `port`; no brackets; no leading '-'; labels of a-z, 0-9, '-', '_'; at most 253 characters), got: `203.0.113.11:22`",
      "[fleet/web-3] `port` must be an integer from 1 to 65535, got: `0`",
    ]);
  });

  test("the entry point of the other core says which one to import", () => {
    const other = c.core === "cdktf" ? "cdktf-nixos-installer/cdktn" : "cdktf-nixos-installer";
    const r = run(dir, process.execPath, ["-e", `require(${JSON.stringify(other)})`]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(c.core === "cdktf" ? 'a cdktf project imports "cdktf-nixos-installer" instead' : 'a cdktn project imports "cdktf-nixos-installer/cdktn"');
  });
});

// Declared after the projects' blocks, so it runs after both synthesized.
(skipReason ? describe.skip : describe)("both cores", () => {
  test("the cdktf and the cdktn project synthesize the same configuration", () => {
    expect(stacks.cdktf).toBeDefined();
    expect(stacks.cdktn).toEqual(stacks.cdktf);
  });
});
