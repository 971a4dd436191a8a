// `cdktf-nixos-installer` (unlock, status, ssh) against the lab's simulated host, with
// the records the real terraform apply of the chain left in hosts/: status names each
// role by its key (and fails loudly on an impostor's), ssh is pinned, and after a
// reboot unlock gives the passphrase to the initrd and waits for the installed system,
// without the passphrase in any argv, file or output. Needs root, sshd and terraform.
import { spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { filesContaining } from "../../lab/canary";
import { Impostor, startImpostor } from "../../lab/impostor";
import { labHostRole, phaseAddress, ROOT, startLab, terraform } from "../../lab/lab";

jest.setTimeout(300_000);

// Shell metacharacters: a passphrase that any word splitting, eval or unquoted use would break.
const TAG = randomBytes(8).toString("hex");
const PWNED = `/tmp/pwned-${TAG}`;
const CANARY = `canary-${TAG} $(touch ${PWNED}) \`touch ${PWNED}\` '"; *|&<>\\`;
const ADDRESS = "127.0.31.2";
const work = path.join(ROOT, ".lab", "test-day2-cli");
const main = path.join(ROOT, "lib", "cli", "main.ts");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Command lines of other processes, seen while this one ran, that held the canary. */
  argvWithCanary: string[];
}

/** Scans every process's argv (/proc/PID/cmdline) for the canary. */
function cmdlinesWithCanary(): string[] {
  const hits: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`);
      if (cmdline.includes(Buffer.from(CANARY))) hits.push(`${pid}: ${cmdline.toString().replace(/\0/g, " ")}`);
    } catch {
      // gone
    }
  }
  return hits;
}

/** Runs the command-line tool (from source) as a user would, polling /proc meanwhile. */
function cli(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-r", require.resolve("ts-node/register/transpile-only"), main, ...args], {
      cwd: o.cwd ?? ROOT,
      env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, "tsconfig.json"), ...(o.env ?? {}) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const seen = new Set<string>();
    const poll = setInterval(() => cmdlinesWithCanary().forEach((c) => seen.add(c)), 25);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(poll);
      resolve({ code, stdout, stderr, argvWithCanary: [...seen] });
    });
  });
}

async function waitForLabRole(dir: string, role: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (labHostRole(dir) !== role) {
    if (Date.now() > deadline) throw new Error(`the lab host did not become ${role} within ${ms} ms (is ${labHostRole(dir)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("cdktf-nixos-installer against a host the chain installed in the lab", () => {
  let lab: Awaited<ReturnType<typeof startLab>>;
  let hostsRel: string;
  const passphraseEnv = { LAB_DISK_PASSPHRASE: CANARY };

  beforeAll(async () => {
    lab = await startLab({ work, passphrase: CANARY, address: ADDRESS });
    hostsRel = path.relative(ROOT, lab.hostsDir);
  });
  afterAll(async () => {
    await lab?.close();
  });

  /** terraform apply of one phase (and what it needs), as `-target` does. */
  const applyPhase = (phase: string) => terraform(lab.stackDir, ["apply", "-auto-approve", "-input=false", "-no-color", `-target=${phaseAddress(lab.stackDir, phase)}`], lab.tfEnv);

  test("after the probe, connection.json says how to reach the host (paths relative to it, no secret) and status says base", async () => {
    const probe = await applyPhase("probe");
    expect(probe.code).toBe(0);
    const dir = path.join(lab.hostsDir, "web-1");
    const record = JSON.parse(fs.readFileSync(path.join(dir, "connection.json"), "utf8"));
    expect(record).toMatchObject({ version: 1, host: ADDRESS, port: lab.host.port, unlockPort: lab.host.unlockPort, user: "root", pool: "rpool", passphrase: { kind: "env", ref: "LAB_DISK_PASSPHRASE" } });
    // The stack gave the key file relative to the project; the record holds it relative to hosts/web-1/.
    expect(record.identityFile).toBe(path.relative(dir, lab.host.clientKey));
    expect(path.resolve(dir, record.identityFile)).toBe(lab.host.clientKey);
    const status = await cli(["status", "--hosts-dir", hostsRel]);
    const address = `${ADDRESS}:${lab.host.port},${lab.host.unlockPort}`;
    expect(status.stdout).toBe(`HOST   ${"ADDRESS".padEnd(address.length)}  ROLE\nweb-1  ${address}  base\n`);
    expect(status.code).toBe(0);
  });

  test("after kexec, status says installer", async () => {
    const kexec = await applyPhase("kexec");
    expect(kexec.code).toBe(0);
    expect((await cli(["status", "--hosts-dir", hostsRel])).stdout).toMatch(/^web-1 .* installer\n$/m);
  });

  test("after the whole chain, status says installed and ssh runs a command there, pinned", async () => {
    const apply = await lab.apply();
    expect(apply.code).toBe(0);
    expect((await cli(["status", "web-1", "--hosts-dir", hostsRel])).stdout).toMatch(/^web-1 .* installed\n$/m);
    // From another directory, with the records given by absolute path: the key file still resolves.
    const r = await cli(["ssh", "web-1", "--hosts-dir", lab.hostsDir, "--", "hostname; test -e /etc/NIXOS && echo nixos"], { cwd: os.tmpdir() });
    expect(r.stdout).toBe("web-1\nnixos\n");
    expect(r.code).toBe(0);
    const initrd = await cli(["ssh", "web-1", "--role", "initrd", "--hosts-dir", hostsRel, "--", "true"]);
    expect(initrd.stderr).toContain(`[web-1 ssh] error: ${ADDRESS} answers as its installed, not as its initrd (by the key it offers)`);
    expect(initrd.code).toBe(1);
  });

  test("after a reboot the host waits in its initrd: status says initrd, unlock refuses a wrong passphrase and leaves it waiting", async () => {
    // The lab's installed system reboots into its initrd, as a real one does (recorder: reboot).
    await cli(["ssh", "web-1", "--hosts-dir", hostsRel, "--", "reboot"]);
    await waitForLabRole(lab.host.dir, "initrd");
    let status = await cli(["status", "--hosts-dir", hostsRel]);
    for (let i = 0; i < 20 && !/ initrd\n/.test(status.stdout); i++) status = await cli(["status", "--hosts-dir", hostsRel]);
    expect(status.stdout).toMatch(/^web-1 .* initrd\n$/m);
    expect(status.code).toBe(0);
    const wrong = await cli(["unlock", "web-1", "--hosts-dir", hostsRel, "--timeout", "60"], { env: { LAB_DISK_PASSPHRASE: "not-the-passphrase" } });
    expect(wrong.stderr).toContain("[web-1 unlock] error: the initrd did not accept the disk passphrase from the env source 'LAB_DISK_PASSPHRASE'");
    expect(wrong.code).toBe(1);
    expect(labHostRole(lab.host.dir)).toBe("initrd");
  });

  test("unlock from the deploy directory gives the passphrase to the initrd and waits for the installed system; the passphrase is in no argv, file or output", async () => {
    const missing = await cli(["unlock", "web-1", "--hosts-dir", hostsRel], { env: { LAB_DISK_PASSPHRASE: undefined } });
    expect(missing.stderr).toBe(
      "error: the stack reads the disk passphrase of web-1 from the environment variable LAB_DISK_PASSPHRASE, which is not set here\n  export LAB_DISK_PASSPHRASE (as for terraform apply), then run this again\n",
    );
    expect(missing.code).toBe(1);
    const r = await cli(["unlock", "web-1", "--hosts-dir", hostsRel], { env: passphraseEnv });
    expect(r.stderr).toMatch(/\[web-1 unlock\] pool unlocked; the installed system is booting\n/);
    expect(r.stdout).toBe(`web-1: unlocked; the installed system answers with its pinned key on ${ADDRESS}:${lab.host.port}\n`);
    expect(r.code).toBe(0);
    expect(labHostRole(lab.host.dir)).toBe("installed");
    expect((await cli(["ssh", "web-1", "--hosts-dir", hostsRel, "--", "zfs get -H -o value keystatus rpool"])).stdout).toBe("available\n");
    expect(r.argvWithCanary).toEqual([]);
    expect(`${r.stdout}${r.stderr}`).not.toContain(CANARY);
    // Every file of this run: the records, the configuration, the state, the lab host's disk, records and logs.
    expect(filesContaining(CANARY, [work])).toEqual([]);
    // and no shell ever ran a part of it
    expect(fs.existsSync(PWNED)).toBe(false);
    // Unlocking a host that is up changes nothing.
    const again = await cli(["unlock", "web-1", "--hosts-dir", hostsRel], { env: passphraseEnv });
    expect(again.stderr).toContain("[web-1 unlock] the installed system is already up (unlocked); nothing to unlock");
    expect(again.code).toBe(0);
  });

  describe("a key that matches no pin", () => {
    let impostor: Impostor;
    let otherHosts: string;

    beforeAll(async () => {
      // web-1's records, but its address now answered by another machine (a man in the
      // middle, or a reinstall outside the chain); web-2's by nothing at all.
      otherHosts = path.join(work, "other-hosts");
      for (const [name, port] of [["web-1", 10030], ["web-2", 10040]] as const) {
        fs.cpSync(path.join(lab.hostsDir, "web-1"), path.join(otherHosts, name), { recursive: true });
        const file = path.join(otherHosts, name, "connection.json");
        const record = JSON.parse(fs.readFileSync(file, "utf8"));
        fs.writeFileSync(file, JSON.stringify({ ...record, port, unlockPort: port + 1, identityFile: lab.host.clientKey }));
      }
      impostor = await startImpostor({ dir: path.join(work, "impostor"), address: ADDRESS, port: 10030, clientPublicKey: `${lab.host.clientKey}.pub` });
    });
    afterAll(async () => {
      await impostor?.stop();
    });

    test("status shows UNKNOWN KEY with its fingerprint, warns of a man in the middle and fails; a host that is off is down", async () => {
      const r = await cli(["status", "--hosts-dir", otherHosts]);
      expect(r.stdout).toMatch(new RegExp(`^HOST +ADDRESS +ROLE\nweb-1 +${ADDRESS}:10030,10031 +UNKNOWN KEY SHA256:\\S+ on port 10030\nweb-2 +${ADDRESS}:10040,10041 +down\n$`));
      expect(r.stderr).toMatch(/^error: web-1 \(127\.0\.31\.2:10030\) offers the host key SHA256:\S+, which matches none of its pins in \S+\/pins\n {2}this may be a man in the middle: send it nothing \(no unlock, no ssh\)/);
      expect(r.code).toBe(1);
    });

    test("ssh and unlock refuse it before sending anything: no session reaches it, the passphrase least of all", async () => {
      const s = await cli(["ssh", "web-1", "--hosts-dir", otherHosts, "--", "echo reached"]);
      expect(s.stderr).toMatch(/\[web-1 ssh\] error: 127\.0\.31\.2:10030 offers host key SHA256:\S+, which is none of the keys this chain pinned\n[\s\S]*this may be a man in the middle; nothing secret was sent/);
      expect(s.stdout).toBe("");
      expect(s.code).toBe(1);
      const u = await cli(["unlock", "web-1", "--hosts-dir", otherHosts], { env: passphraseEnv });
      expect(u.stderr).toMatch(/\[web-1 unlock\] error: 127\.0\.31\.2:10030 offers host key SHA256:\S+, which is none of the keys this chain pinned/);
      expect(u.code).toBe(1);
      expect(impostor.received()).toEqual([]);
      expect(filesContaining(CANARY, [impostor.dir])).toEqual([]);
      expect(u.argvWithCanary).toEqual([]);
    });
  });
});
