// The command line of cdktf-nixos-installer without a host: what a user sees for bad
// input, missing records and --help, and the connection record's path rule (paths in
// hosts/NAME/connection.json are relative to that directory, whatever the directory
// the chain ran in). The commands against a host: __tests__/lab/day2-cli.test.ts.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULT_TIMEOUTS } from "../../lib";

const root = path.resolve(__dirname, "..", "..");
const main = path.join(root, "lib", "cli", "main.ts");

function cli(args: string[], cwd = root, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, ["-r", require.resolve("ts-node/register/transpile-only"), main, ...args], { cwd, env: { ...env, TS_NODE_PROJECT: path.join(root, "tsconfig.json") }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ni-cli-"))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("bad input is refused with exit 2, naming the option, the rule, the value and where to read more", () => {
  test.each([
    [["frobnicate"], "error: the command must be one of unlock, status, ssh, got: 'frobnicate' (see cdktf-nixos-installer --help)"],
    [["unlock"], "error: unlock takes exactly one host NAME, got none (see cdktf-nixos-installer unlock --help)"],
    [["unlock", "web-1", "web-2"], "error: unlock takes exactly one host NAME, got 2: web-1 web-2 (see cdktf-nixos-installer unlock --help)"],
    [["unlock", "web-1", "--timeout", "10m"], "error: --timeout must be a whole number of seconds from 1 to 86400, got: '10m' (see cdktf-nixos-installer unlock --help)"],
    [["unlock", "web-1", "--timeout=0"], "error: --timeout must be a whole number of seconds from 1 to 86400, got: '0' (see cdktf-nixos-installer unlock --help)"],
    [["unlock", "web-1", "--timeout"], "error: --timeout needs a value (see cdktf-nixos-installer unlock --help)"],
    [["status", "--timeout", "5"], "error: status takes the options --hosts-dir, --help; got: '--timeout' (see cdktf-nixos-installer status --help)"],
    [["status", "Web_1"], "error: NAME must be a valid hostname (a-z, 0-9, '-', at most 63, no '-' at either end) (a directory of the hosts directory), got: 'Web_1' (see cdktf-nixos-installer status --help)"],
    [["ssh", "web-1", "--role", "rescue"], "error: --role must be one of base, installer, initrd, installed, got: 'rescue' (see cdktf-nixos-installer ssh --help)"],
    [["ssh", "web-1", "--"], "error: '--' must be followed by the command to run on the host (see cdktf-nixos-installer ssh --help)"],
    [["unlock", "web-1", "--", "id"], "error: '--' (a remote command) is for cdktf-nixos-installer ssh only, not unlock (see cdktf-nixos-installer unlock --help)"],
    [["ssh", "../etc"], "error: NAME must be a valid hostname (a-z, 0-9, '-', at most 63, no '-' at either end) (a directory of the hosts directory), got: '../etc' (see cdktf-nixos-installer ssh --help)"],
  ])("%j", (args, message) => {
    const r = cli(args);
    expect(r.stderr).toBe(`${message}\n`);
    expect(r.stdout).toBe("");
    expect(r.code).toBe(2);
  });
});

describe("--help", () => {
  test("each command documents its options and exit status; unlock's default timeout is the unlock phase's", () => {
    expect(cli(["--help"]).stdout).toMatch(/^Usage: cdktf-nixos-installer <command> \[options\]\n[\s\S]*unlock NAME[\s\S]*status \[NAME\.\.\.\][\s\S]*ssh NAME \[-- COMMAND\.\.\.\]/);
    const unlock = cli(["unlock", "--help"]);
    expect(unlock.code).toBe(0);
    expect(unlock.stdout).toContain(`(default: ${DEFAULT_TIMEOUTS.unlock}, the\n                     unlock phase's default)`);
    for (const c of ["unlock", "status", "ssh"]) expect(cli([c, "--help"]).stdout).toMatch(/--hosts-dir DIR {3}where the host records are \(default: hosts/);
    expect(cli(["ssh", "--help"]).stdout).toContain("--role ROLE       base, installer, initrd, installed (default: installed)");
  });
});

describe("records that cannot be used stop with exit 1 and what to do", () => {
  test("no hosts directory, no such host, a host installed by an older release (no connection.json)", () => {
    expect(cli(["status"], tmp)).toEqual({
      code: 1,
      stdout: "",
      stderr: "error: the hosts directory hosts does not exist\n  run the command where you run `cdktf deploy`, or give the directory of the records with --hosts-dir DIR (the construct's hostsDir)\n",
    });
    fs.mkdirSync(path.join(tmp, "hosts", "web-1", "pins"), { recursive: true });
    fs.writeFileSync(path.join(tmp, "hosts", "web-1", "pins", "installed"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUser0000000000000000000000000000000000000000\n");
    expect(cli(["unlock", "web-2"], tmp).stderr).toBe(
      "error: there is no record of the host web-2 in hosts\n  recorded hosts there: web-1\n  run the command where you run `cdktf deploy`, or give the directory of the records with --hosts-dir DIR\n",
    );
    const old = cli(["ssh", "web-1"], tmp);
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/^error: \S+\/hosts\/web-1\/connection\.json is missing: the install chain writes it in its probe phase, and this host was installed by an older release\n  write it without touching the host: terraform apply -replace=<the host's probe phase>/);
    const status = cli(["status"], tmp);
    expect(status.stdout).toBe("HOST   ADDRESS  ROLE\nweb-1  -        no record\n");
    expect(status.code).toBe(1);
  });
});

// ---- hosts/NAME/connection.json, as the probe writes it ------------------------------

/** Runs common.sh's write_connection_record in `cwd` (where Terraform runs the phases: the stack dir). */
function writeRecord(cwd: string, env: Record<string, string>): { code: number | null; stderr: string } {
  const r = spawnSync("bash", ["-c", `PHASE=probe; . ${path.join(root, "lib", "scripts", "common.sh")}; write_connection_record`], {
    cwd,
    // (stdin not a socket: bash would take itself for a remote shell and read ~/.bashrc)
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH, NI_HOST: "203.0.113.10", NI_PORT: "22", NI_UNLOCK_PORT: "2222", NI_USER: "root", NI_HOST_NAME: "web-1", NI_TIMEOUT: "10", NI_POOL: "tank", NI_RESOURCES: "probe=terraform_data.a kexec=terraform_data.b", ...env },
    encoding: "utf8",
  });
  return { code: r.status, stderr: r.stderr };
}

describe("the probe's connection record", () => {
  test("relative paths are written relative to hosts/NAME/, so they resolve from wherever the record is read", () => {
    const project = path.join(tmp, "project");
    const stack = path.join(project, "cdktf.out", "stacks", "fleet");
    fs.mkdirSync(stack, { recursive: true });
    // As the construct writes them: relative to the stack dir (fromStack).
    const r = writeRecord(stack, { NI_HOSTS_DIR: "../../../infra/hosts", NI_IDENTITY_FILE: "../../../keys/deploy", NI_PASSPHRASE_KIND: "file", NI_PASSPHRASE_REF: "../../../secrets/./web-1.disk" });
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const hostDir = path.join(project, "infra", "hosts", "web-1");
    const record = JSON.parse(fs.readFileSync(path.join(hostDir, "connection.json"), "utf8"));
    expect(record).toEqual({
      version: 1,
      host: "203.0.113.10",
      port: 22,
      unlockPort: 2222,
      user: "root",
      pool: "tank",
      identityFile: "../../../keys/deploy",
      passphrase: { kind: "file", ref: "../../../secrets/web-1.disk" },
      phaseAddresses: "probe=terraform_data.a kexec=terraform_data.b",
    });
    expect(path.resolve(hostDir, record.identityFile)).toBe(path.join(project, "keys", "deploy"));
    expect(path.resolve(hostDir, record.passphrase.ref)).toBe(path.join(project, "secrets", "web-1.disk"));
  });

  test("absolute paths stay absolute, an agent is null, an env or command source is kept as given", () => {
    const stack = path.join(tmp, "abs", "cdktf.out", "stacks", "s");
    fs.mkdirSync(stack, { recursive: true });
    const hosts = path.join(tmp, "abs-hosts");
    expect(writeRecord(stack, { NI_HOSTS_DIR: hosts, NI_IDENTITY_FILE: "/etc/deploy/id", NI_PASSPHRASE_KIND: "file", NI_PASSPHRASE_REF: "/run/secrets/disk" }).code).toBe(0);
    let record = JSON.parse(fs.readFileSync(path.join(hosts, "web-1", "connection.json"), "utf8"));
    expect([record.identityFile, record.passphrase]).toEqual(["/etc/deploy/id", { kind: "file", ref: "/run/secrets/disk" }]);
    const command = "pass show 'hosts/web-1/disk' | head -c 64\t# $HOME `x`";
    expect(writeRecord(stack, { NI_HOSTS_DIR: hosts, NI_IDENTITY_FILE: "", NI_PASSPHRASE_KIND: "command", NI_PASSPHRASE_REF: command }).code).toBe(0);
    record = JSON.parse(fs.readFileSync(path.join(hosts, "web-1", "connection.json"), "utf8"));
    expect([record.identityFile, record.passphrase]).toEqual([null, { kind: "command", ref: command }]);
  });
});
