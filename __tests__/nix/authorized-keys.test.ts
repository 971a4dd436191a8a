/**
 * One rule for authorized keys on all four sides: the TypeScript validation
 * (isAuthorizedKey), run-installer on the base system, do-install in the installer and
 * the Nix parser of the host flake's authorized_keys file. One table of lines (every key
 * type sshd accepts, with and without options, and the near misses) goes through all
 * four; each must give the answer the table gives.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { isAuthorizedKey } from "../../lib/validation";

const repo = path.resolve(__dirname, "..", "..");
let tmp: string;

/** A real public key of the given type, made by ssh-keygen (once a type). */
function realKey(type: string, bits?: number): string {
  const f = path.join(tmp, `k-${type}-${bits ?? 0}`);
  if (!fs.existsSync(`${f}.pub`)) execFileSync("ssh-keygen", ["-q", "-t", type, ...(bits ? ["-b", String(bits)] : []), "-N", "", "-C", `${type}@example`, "-f", f]);
  return fs.readFileSync(`${f}.pub`, "utf8").trim();
}

/** A FIDO key line: ssh-keygen needs the token to make one, so the blob is built as OpenSSH lays it out. */
function skKey(type: string): string {
  const str = (s: string | Buffer) => {
    const b = Buffer.from(s);
    const n = Buffer.alloc(4);
    n.writeUInt32BE(b.length);
    return Buffer.concat([n, b]);
  };
  const blob = Buffer.concat([str(type), str(Buffer.alloc(32, 7)), str("ssh:")]);
  return `${type} ${blob.toString("base64")} yubikey@example`;
}

const table: { name: string; line: () => string; ok: boolean }[] = [];
const ok = (name: string, line: () => string) => table.push({ name, line, ok: true });
const refused = (name: string, line: () => string) => table.push({ name, line, ok: false });

const ed = () => realKey("ed25519");
ok("ssh-ed25519", ed);
ok("ssh-rsa", () => realKey("rsa", 2048));
ok("ecdsa-sha2-nistp256", () => realKey("ecdsa", 256));
ok("ecdsa-sha2-nistp384", () => realKey("ecdsa", 384));
ok("ecdsa-sha2-nistp521", () => realKey("ecdsa", 521));
ok("sk-ssh-ed25519@openssh.com", () => skKey("sk-ssh-ed25519@openssh.com"));
ok("sk-ecdsa-sha2-nistp256@openssh.com", () => skKey("sk-ecdsa-sha2-nistp256@openssh.com"));
ok("without a comment", () => ed().split(" ").slice(0, 2).join(" "));
ok("with options from= and no-pty", () => `from="10.0.0.0/8,192.168.0.0/16",no-pty ${ed()}`);
ok("with a command holding escaped quotes", () => `command="echo \\"unlocked\\"",restrict ${realKey("ecdsa", 256)}`);
ok("with environment= and no-X11-forwarding", () => `environment="LANG=C.UTF-8",no-X11-forwarding ${skKey("sk-ssh-ed25519@openssh.com")}`);
ok("leading and trailing white space, a tab between type and key", () => `  ${ed().replace(" ", "\t")}  `);
refused("ssh-dss (gone from OpenSSH 10)", () => `ssh-dss AAAAB3NzaC1kc3MAAACBAP old@example`);
refused("a certificate instead of a key", () => `ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQ= c`);
refused("a type and no key", () => "ssh-ed25519");
refused("a key that is not base64", () => "ssh-ed25519 not!base64 x");
refused("a word that is no option", () => `bogus ${ed()}`);
refused("an option with an unterminated quote", () => `from="10.0.0.0/8 ${ed()}`);
refused("an empty option between commas", () => `from="10.0.0.0/8",,no-pty ${ed()}`);
refused("a key type used as an option", () => `ssh-rsa ${ed()}`);
refused("a private key line", () => "-----BEGIN OPENSSH PRIVATE KEY-----");

type Side = (lines: string[]) => boolean[];

/** Runs a script with an authorized keys file holding one line; accepted when it stops for another reason. */
function scriptSide(run: (keys: string) => { stderr: string }): Side {
  return (lines) =>
    lines.map((line, i) => {
      const keys = path.join(tmp, `keys-${i}`);
      fs.writeFileSync(keys, `# deploy keys\n\n${line}\n`);
      const { stderr } = run(keys);
      if (!/^error: /m.test(stderr)) throw new Error(`the script stopped without an error line: ${stderr}`);
      return !/^error: authorized keys file /m.test(stderr);
    });
}

const sides: Record<string, Side> = {
  "lib/validation.ts isAuthorizedKey": (lines) => lines.map((l) => isAuthorizedKey(l)),
  "nix/lib parseAuthorizedKeys": (lines) => {
    const file = path.join(tmp, "lines.json");
    fs.writeFileSync(file, JSON.stringify(lines));
    const expr = `map (l: (builtins.tryEval (builtins.deepSeq ((import ${repo}/nix/lib).parseAuthorizedKeys "# keys\\n\\n\${l}\\n") true)).success) (builtins.fromJSON (builtins.readFile ${file}))`;
    return JSON.parse(execFileSync("nix-instantiate", ["--eval", "--strict", "--json", "-E", expr], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  },
  "nix/lib isAuthorizedKeyLine": (lines) => {
    const file = path.join(tmp, "lines.json");
    fs.writeFileSync(file, JSON.stringify(lines));
    const expr = `map (import ${repo}/nix/lib).isAuthorizedKeyLine (builtins.fromJSON (builtins.readFile ${file}))`;
    return JSON.parse(execFileSync("nix-instantiate", ["--eval", "--strict", "--json", "-E", expr], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  },
  // run-installer stops at the architecture check (the bundle is for "none-linux") once the keys pass
  "nix/installer/run-installer": scriptSide((keys) => {
    const bundle = path.join(tmp, "bundle");
    return spawnSync("sh", [path.join(repo, "nix", "installer", "run-installer"), "--bundle", bundle, "--runtime-info", path.join(tmp, "ri.json"), "--authorized-keys", keys], { encoding: "utf8" });
  }),
  // do-install runs with only bash and what the key check needs: past it, it stops at "jq not found"
  "nix/installer/do-install": scriptSide((keys) =>
    spawnSync(path.join(tmp, "bin", "bash"), [path.join(repo, "nix", "installer", "do-install"), "--runtime-info", path.join(tmp, "ri.json"), "--template", path.join(tmp, "template"), "--authorized-keys", keys], {
      encoding: "utf8",
      input: "",
      env: { PATH: path.join(tmp, "bin") },
    }),
  ),
};

describe("authorized keys: one rule in TypeScript, run-installer, do-install and the Nix parser", () => {
  let lines: string[];

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "authorized-keys-"));
    lines = table.map((row) => row.line());
    fs.mkdirSync(path.join(tmp, "bundle"));
    for (const f of ["kernel", "initrd", "cmdline"]) fs.writeFileSync(path.join(tmp, "bundle", f), "x");
    fs.writeFileSync(path.join(tmp, "bundle", "manifest.json"), '{ "system": "none-linux" }\n');
    fs.writeFileSync(path.join(tmp, "ri.json"), "{}\n");
    fs.mkdirSync(path.join(tmp, "template"));
    fs.writeFileSync(path.join(tmp, "template", "flake.nix"), "{ }\n");
    fs.mkdirSync(path.join(tmp, "bin"));
    for (const tool of ["bash", "grep", "head", "cut", "cat"]) {
      fs.symlinkSync(execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim(), path.join(tmp, "bin", tool));
    }
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test.each(Object.keys(sides))("%s gives every line of the table the table's answer", (side) => {
    const got = sides[side](lines);
    const differs = table.map((row, i) => ({ line: row.name, expected: row.ok, got: got[i] })).filter((r) => r.expected !== r.got);
    expect(differs).toEqual([]);
  });

  test("a file with only comments and blank lines is refused by both scripts", () => {
    const keys = path.join(tmp, "empty-keys");
    fs.writeFileSync(keys, "# nobody\n\n");
    const r = spawnSync("sh", [path.join(repo, "nix", "installer", "run-installer"), "--bundle", path.join(tmp, "bundle"), "--runtime-info", path.join(tmp, "ri.json"), "--authorized-keys", keys], { encoding: "utf8" });
    expect(r.stderr).toMatch(/^error: authorized keys file \S+ holds no ssh public key; without one nobody could log in to the installer$/m);
    const d = spawnSync(path.join(tmp, "bin", "bash"), [path.join(repo, "nix", "installer", "do-install"), "--runtime-info", path.join(tmp, "ri.json"), "--template", path.join(tmp, "template"), "--authorized-keys", keys], { encoding: "utf8", input: "", env: { PATH: path.join(tmp, "bin") } });
    expect(d.stderr).toMatch(/^error: authorized keys file \S+ holds no ssh public key; without one nobody could log in to the installed system$/m);
  });

  test("a bad line is named by its number, in the scripts and in the Nix parser", () => {
    const keys = path.join(tmp, "bad-keys");
    fs.writeFileSync(keys, `${lines[0]}\nssh-dss AAAAB3Nza old\n`);
    const r = spawnSync("sh", [path.join(repo, "nix", "installer", "run-installer"), "--bundle", path.join(tmp, "bundle"), "--runtime-info", path.join(tmp, "ri.json"), "--authorized-keys", keys], { encoding: "utf8" });
    expect(r.stderr).toMatch(/^error: authorized keys file \S+, line 2 is not an OpenSSH public key line \(.*\): ssh-dss AAAAB3Nza old; fix or remove that line$/m);
    const n = spawnSync("nix-instantiate", ["--eval", "--strict", "-E", `(import ${repo}/nix/lib).parseAuthorizedKeys (builtins.readFile ${keys})`], { encoding: "utf8" });
    expect(n.status).not.toBe(0);
    expect(n.stderr).toMatch(/authorized_keys: every line must be an OpenSSH public key line .*fix or remove:\n\s+line 2: ssh-dss AAAAB3Nza old/);
  });
});
