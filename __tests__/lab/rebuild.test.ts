// NixosRebuild through the real terraform against the lab's simulated host, installed
// by the chain in the same stack: the host's generations (nixos-rebuild, nix-env,
// switch-to-configuration, systemd-run recorders of lab/target/lib/nixos-system.js)
// move as a real NixOS host's do. A change switches the host; a configuration that cuts
// SSH is undone by the host's own timer; a failed build changes nothing; a failed switch
// is undone at once; keys come and go; the passphrase appears nowhere; an impostor gets
// nothing. Needs root, sshd, terraform.
import { execFileSync, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { App, LocalBackend, TerraformStack } from "cdktf";
import { filesContaining } from "../../lab/canary";
import { Impostor, startImpostor } from "../../lab/impostor";
import { labHostRole, labRecords, ROOT, RunResult, startLab, terraform } from "../../lab/lab";
import { HostConfiguration, NixosRebuild, SshIdentity } from "../../lib";

jest.setTimeout(300_000);

const CANARY = `canary-${randomBytes(12).toString("hex")}`;
const ADDRESS = "127.0.32.2";
// Long enough for the verify checks on a loaded 2-core machine (20 s was not, once: the timer
// fired first and the host rolled back, as it should).
const ROLLBACK = 60;
const work = path.join(ROOT, ".lab", "test-rebuild");
const template = fs.readFileSync(path.join(ROOT, "nix", "templates", "host", "flake.nix"), "utf8");

/**
 * A user's host flake (HostConfiguration.fromFlake), in a git work tree of its own as an
 * infra repo is: the template with a comment (a lab marker, or just a change), root's key
 * beside it, the host's runtime-info placed beside flake.nix as the template reads it.
 */
function configuration(name: string, comment: string, keys: string): HostConfiguration {
  const dir = path.join(work, "configurations", name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "flake.nix"), `${template}${comment}\n`);
  fs.writeFileSync(path.join(dir, "authorized_keys"), keys);
  const git = (...args: string[]) => execFileSync("git", ["-C", dir, "-c", "user.email=t@example.org", "-c", "user.name=t", ...args]);
  git("init", "-q");
  git("add", ".");
  git("commit", "-q", "-m", name);
  return HostConfiguration.fromFlake({ dir: path.relative(ROOT, dir), runtimeInfoPath: "runtime-info.json" });
}

describe("NixosRebuild of a host the chain installed in the lab", () => {
  let lab: Awaited<ReturnType<typeof startLab>>;
  const outputs: string[] = [];
  let installedKey: string;
  const disk = () => path.join(lab.host.dir, "disk", "mnt");
  /** The system profile's generation, as the host's /nix holds it. */
  const generation = () => Number(/^system-(\d+)-link$/.exec(fs.readlinkSync(path.join(disk(), "nix/var/nix/profiles/system")))![1]);
  const toplevelOf = (n: number) => fs.readlinkSync(path.join(disk(), `nix/var/nix/profiles/system-${n}-link`));
  const etcNixos = () => fs.readFileSync(path.join(disk(), "persist/etc/nixos/flake.nix"), "utf8");
  const apply = async (): Promise<RunResult> => {
    const r = await lab.apply();
    outputs.push(r.output);
    return r;
  };
  /** A command on the host over a new connection pinned to the installed key, as `key`. */
  const onHost = (command: string, key = lab.host.clientKey) => {
    const knownHosts = path.join(work, "known_hosts");
    fs.writeFileSync(knownHosts, `[${ADDRESS}]:${lab.host.port} ${installedKey}\n`);
    return spawnSync(
      "ssh",
      ["-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10", "-p", String(lab.host.port), `root@${ADDRESS}`, command],
      { encoding: "utf8", timeout: 30_000 },
    );
  };
  /** A command in the host's initrd (its unlock port), pinned to the initrd's key, as `key`. */
  const onInitrd = (command: string, key: string) => {
    const knownHosts = path.join(work, "known_hosts.initrd");
    const initrdKey = fs.readFileSync(path.join(lab.hostsDir, "web-1", "initrd_ssh_host_ed25519_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
    fs.writeFileSync(knownHosts, `[${ADDRESS}]:${lab.host.unlockPort} ${initrdKey}\n`);
    return spawnSync(
      "ssh",
      ["-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10", "-p", String(lab.host.unlockPort), `root@${ADDRESS}`, command],
      { encoding: "utf8", timeout: 30_000 },
    );
  };
  /** A key pair of its own under the work dir (made once), for a key to add or remove. */
  const extraKey = (name: string) => {
    const file = path.join(work, name);
    if (!fs.existsSync(file)) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@lab`, "-f", file]);
    return { file, pub: fs.readFileSync(`${file}.pub`, "utf8").trim() };
  };
  /** root's key in a user's flake: the lab's client key. */
  const rootKeys = () => fs.readFileSync(`${lab.host.clientKey}.pub`, "utf8");
  const rebuildLines = (r: RunResult) => r.output.split("\n").filter((l) => /\[web-1 (rebuild|verify)\]|^rebuild:|error/.test(l)).join("\n");

  beforeAll(async () => {
    lab = await startLab({ work, passphrase: CANARY, address: ADDRESS, rebuild: { rollbackTimeout: ROLLBACK } });
  });
  afterAll(async () => {
    await lab?.close();
  });

  test("install and rebuild in one apply: the rebuild runs after verify and finds generation 1 already built from the template", async () => {
    const r = await apply();
    installedKey = fs.readFileSync(path.join(lab.hostsDir, "web-1", "pins", "installed"), "utf8").trim();
    if (r.code !== 0) throw new Error(`terraform apply failed:\n${rebuildLines(r)}`);
    expect(r.output).toContain("[web-1 rebuild] generation 1 already is this configuration; nothing activated");
    expect(generation()).toBe(1);
    expect(onHost("readlink /run/current-system").stdout.trim()).toBe(toplevelOf(1));
  });

  test("a changed configuration switches the host: generation 2 runs, confirmed over a new connection, /etc/nixos holds it, the lock stays", async () => {
    const lockBefore = fs.readFileSync(path.join(disk(), "persist/etc/nixos/flake.lock"), "utf8");
    lab.synth({ rebuild: { configuration: configuration("second", "# second generation", rootKeys()), rollbackTimeout: ROLLBACK } });
    const r = await apply();
    if (r.code !== 0) throw new Error(`terraform apply failed:\n${rebuildLines(r)}`);
    expect(r.output).toMatch(/\[web-1 rebuild\] confirmed: generation 2 runs on 127\.0\.32\.2 \(switch\); generation 1 stays/);
    expect(r.output).toMatch(/\[web-1 verify\] verified: 26\.05[^,]*, hostname web-1, pool rpool aes-256-gcm \(key available\)/);
    expect(generation()).toBe(2);
    expect(onHost("readlink /run/current-system").stdout.trim()).toBe(toplevelOf(2));
    expect(etcNixos()).toContain("# second generation");
    expect(fs.readFileSync(path.join(disk(), "persist/etc/nixos/flake.lock"), "utf8")).toBe(lockBefore);
    const records = labRecords(lab.host);
    // The timer was armed before the switch, the switch ran as a unit of its own, the confirmation stopped the timer.
    const timer = records.findIndex((x) => x.tool === "systemd-run" && x.onActive === ROLLBACK);
    const sw = records.findIndex((x) => x.tool === "switch-to-configuration" && x.argv?.[0] === "switch" && x.toplevel === toplevelOf(2));
    const stop = records.findIndex((x) => x.tool === "systemctl" && x.stopped === (records[timer]?.unit as string));
    expect(timer).toBeGreaterThan(-1);
    expect(sw).toBeGreaterThan(timer);
    expect(stop).toBeGreaterThan(sw);
    expect(records.some((x) => x.tool === "systemd" && x.event === "timer-fired")).toBe(false);
    // The same configuration again: nothing to do.
    const again = await apply();
    expect(again.output).toMatch(/No changes\. Your infrastructure matches the configuration\./);
  });

  test("a failed build leaves the host untouched: generation, running system and /etc/nixos stay", async () => {
    const before = etcNixos();
    lab.synth({ rebuild: { configuration: configuration("broken-build", "# lab: build fails", rootKeys()), rollbackTimeout: ROLLBACK } });
    const r = await apply();
    expect(r.code).not.toBe(0);
    expect(r.output).toContain("error: the build of the configuration failed (nixos-rebuild build, exit 1; its log is above); the host is unchanged: it still runs generation 2");
    expect(generation()).toBe(2);
    expect(fs.existsSync(path.join(disk(), "nix/var/nix/profiles/system-3-link"))).toBe(false);
    expect(onHost("readlink /run/current-system").stdout.trim()).toBe(toplevelOf(2));
    expect(etcNixos()).toBe(before);
  });

  test("a configuration that cuts SSH is rolled back by the host's own timer, and the apply fails saying so", async () => {
    const before = etcNixos();
    lab.synth({ rebuild: { configuration: configuration("cuts-ssh", "# lab: cuts ssh", rootKeys()), rollbackTimeout: ROLLBACK } });
    const r = await apply();
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(
      `[web-1 rebuild] error: generation 3 did not confirm within ${ROLLBACK} s over a new SSH connection pinned to the host key: the host's own timer rolled it back to generation 2`,
    );
    expect(r.output).toContain("the new configuration cut the deploy machine off (SSH, network or firewall): fix it, then run terraform apply again");
    const records = labRecords(lab.host);
    // generation 3 was activated (and cut every session), then the timer fired and switched back to 2
    expect(records.some((x) => x.tool === "switch-to-configuration" && x.toplevel === toplevelOf(3) && x.cutSsh === true)).toBe(true);
    expect(records.some((x) => x.tool === "systemd" && x.event === "timer-fired")).toBe(true);
    expect(records.some((x) => x.tool === "nix-env" && x.argv?.includes("--switch-generation") && x.generation === 2)).toBe(true);
    expect(generation()).toBe(2);
    expect(onHost("readlink /run/current-system").stdout.trim()).toBe(toplevelOf(2));
    expect(etcNixos()).toBe(before);
  });

  test("a configuration that changes the host key (to the deploy machine, a man in the middle) is never confirmed: the timer rolls it back, the old key answers again, the apply says so", async () => {
    const before = etcNixos();
    const previous = generation();
    // nix-env numbers a new generation after the highest there is (a rolled-back one counts)
    const profiles = path.join(disk(), "nix/var/nix/profiles");
    const next = 1 + Math.max(...fs.readdirSync(profiles).map((f) => Number(/^system-(\d+)-link$/.exec(f)?.[1] ?? 0)));
    lab.synth({ rebuild: { configuration: configuration("new-host-key", "# lab: new host key", rootKeys()), rollbackTimeout: ROLLBACK } });
    const r = await apply();
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(
      new RegExp(
        `\\[web-1 rebuild\\] error: ${ADDRESS.replace(/\./g, "\\.")}:${lab.host.port} offered host key SHA256:\\S+ after the switch to generation ${next}, not the pinned installed key \\(a man in the middle, or the new configuration changed the host key\\): generation ${next} was not confirmed and nothing was sent to that key, and the host's own timer rolled it back to generation ${previous}`,
      ),
    );
    expect(r.output).toContain("keep the host key the chain pinned (services.openssh.hostKeys as installed)");
    const records = labRecords(lab.host);
    // generation `next` ran with a key of its own, the timer fired, the previous one brought the host's key back
    const offered = records.filter((x) => x.tool === "switch-to-configuration" && x.hostKey !== undefined).map((x) => `${x.toplevel === toplevelOf(next) ? "next" : x.toplevel === toplevelOf(previous) ? "previous" : x.toplevel} ${x.hostKey}`);
    expect(offered.slice(-2)).toEqual(["next new", "previous own"]);
    expect(records.some((x) => x.tool === "systemd" && x.event === "timer-fired")).toBe(true);
    expect(generation()).toBe(previous);
    expect(onHost("readlink /run/current-system").stdout.trim()).toBe(toplevelOf(previous));
    expect(etcNixos()).toBe(before);
  });

  test("a changed authorized key reaches the host, and a removed one stops working (the template: authorizedKeys; a user's flake: its own keys)", async () => {
    const second = path.join(work, "second_key");
    fs.rmSync(second, { force: true });
    fs.rmSync(`${second}.pub`, { force: true });
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "second@lab", "-f", second]);
    const client = fs.readFileSync(`${lab.host.clientKey}.pub`, "utf8").trim();
    expect(onHost("true", second).status).not.toBe(0);
    // the template (what the host was installed from), its keys from the prop
    lab.synth({ rebuild: { rollbackTimeout: ROLLBACK, authorizedKeys: [client, fs.readFileSync(`${second}.pub`, "utf8").trim()] } });
    let r = await apply();
    if (r.code !== 0) throw new Error(`terraform apply failed:\n${rebuildLines(r)}`);
    expect(onHost("echo reached", second).stdout).toBe("reached\n");
    // a user's flake holds root's keys itself: the second key is not among them
    lab.synth({ rebuild: { configuration: configuration("keys", "# root's keys of the flake", `${client}\n`), rollbackTimeout: ROLLBACK } });
    r = await apply();
    if (r.code !== 0) throw new Error(`terraform apply failed:\n${rebuildLines(r)}`);
    const refused = onHost("echo reached", second);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain("Permission denied");
    expect(onHost("echo reached").stdout).toBe("reached\n");
    expect(fs.readFileSync(path.join(disk(), "persist/etc/nixos/authorized_keys"), "utf8")).toBe(`${client}\n`);
  });

  test("a switch that fails returns the host to its previous generation at once, and the apply says so", async () => {
    const before = etcNixos();
    const previous = generation();
    lab.synth({ rebuild: { configuration: configuration("broken-switch", "# lab: switch fails", rootKeys()), rollbackTimeout: ROLLBACK } });
    const r = await apply();
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(
      `error: switch-to-configuration switch of generation ${previous + 1} failed (exit 4; its output is above); the host was returned to generation ${previous}`,
    );
    expect(r.output).toContain("warning: the following units failed: lab-broken.service");
    expect(generation()).toBe(previous);
    expect(onHost("readlink /run/current-system").stdout.trim()).toBe(toplevelOf(previous));
    expect(etcNixos()).toBe(before);
  });

  test("boot mode makes the new generation the boot default and changes nothing running; after a reboot it runs, its initrd and system with its root keys (a rebuild in between waits for the unlock)", async () => {
    const running = generation();
    const timers = () => labRecords(lab.host).filter((x) => x.tool === "systemd-run" && x.onActive !== undefined).length;
    const timersBefore = timers();
    // the booted generation lets one more key in: not before the reboot, in its initrd and system after it
    const booter = extraKey("boot_key");
    lab.synth({ rebuild: { configuration: configuration("boot", "# booted generation", `${rootKeys()}${booter.pub}\n`), mode: "boot", rollbackTimeout: ROLLBACK } });
    let r = await apply();
    if (r.code !== 0) throw new Error(`terraform apply failed:\n${rebuildLines(r)}`);
    // (the new number is one above the newest generation, the failed switch's included)
    const said = /\[web-1 rebuild\] generation (\d+) is the system's default from the next boot; the running system is unchanged \(generation (\d+)\)/.exec(r.output);
    expect(said?.[2]).toBe(String(running));
    const booted = Number(said?.[1]);
    expect(booted).toBeGreaterThan(running);
    expect(generation()).toBe(booted);
    expect(onHost("readlink /run/current-system").stdout.trim()).toBe(toplevelOf(running));
    // nothing running changed: no rollback timer was armed, the new key is not let in
    expect(timers()).toBe(timersBefore);
    expect(onHost("echo reached", booter.file).stderr).toContain("Permission denied");
    // The lab's installed system reboots into its initrd, as a real one does.
    onHost("reboot");
    for (let i = 0; i < 300 && labHostRole(lab.host.dir) !== "initrd"; i++) await new Promise((done) => setTimeout(done, 200));
    expect(labHostRole(lab.host.dir)).toBe("initrd");
    // (the role is set before its sshd listens)
    let inInitrd = onInitrd("test -e /etc/initrd-release && echo initrd", booter.file);
    for (let i = 0; i < 50 && /Connection refused/.test(inInitrd.stderr); i++) {
      await new Promise((done) => setTimeout(done, 200));
      inInitrd = onInitrd("test -e /etc/initrd-release && echo initrd", booter.file);
    }
    expect({ stdout: inInitrd.stdout, stderr: inInitrd.stderr }).toEqual({ stdout: "initrd\n", stderr: "" });
    lab.synth({ rebuild: { configuration: configuration("second", "# second generation", rootKeys()), rollbackTimeout: ROLLBACK } });
    r = await apply();
    expect(r.code).not.toBe(0);
    expect(r.output).toContain("[web-1 rebuild] error: 127.0.32.2 waits in its initrd for the disk passphrase; nothing was sent");
    expect(r.output).toContain("unlock it: npx cdktf-nixos-installer unlock web-1; then run terraform apply again");
    const unlock = spawnSync(process.execPath, ["-r", require.resolve("ts-node/register/transpile-only"), path.join(ROOT, "lib", "cli", "main.ts"), "unlock", "web-1", "--hosts-dir", lab.hostsDir], {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, "tsconfig.json"), LAB_DISK_PASSPHRASE: CANARY },
      encoding: "utf8",
      timeout: 240_000,
    });
    outputs.push(`${unlock.stdout}${unlock.stderr}`);
    expect(unlock.status).toBe(0);
    expect(onHost("readlink /run/current-system").stdout.trim()).toBe(toplevelOf(booted));
    expect(onHost("echo reached", booter.file).stdout).toBe("reached\n");
  });

  test("the disk passphrase appears in no output and no file of the run, the host's disk included", () => {
    expect(outputs.length).toBeGreaterThan(4);
    for (const o of outputs) expect(o).not.toContain(CANARY);
    expect(filesContaining(CANARY, [work])).toEqual([]);
  });

  describe("a host installed some other way, whose address answers with another key", () => {
    let impostor: Impostor;

    beforeAll(async () => {
      impostor = await startImpostor({ dir: path.join(work, "impostor"), address: ADDRESS, port: 10030, clientPublicKey: `${lab.host.clientKey}.pub` });
    });
    afterAll(async () => {
      await impostor?.stop();
    });

    test("the rebuild refuses it before it sends anything", async () => {
      // A stack of its own: the rebuild given the installed key, its records in a directory of their own.
      const outdir = path.join(work, "mitm.out");
      const cwd = process.cwd();
      process.chdir(ROOT);
      try {
        const app = new App({ outdir: path.relative(ROOT, outdir) });
        const stack = new TerraformStack(app, "mitm");
        new LocalBackend(stack, { path: "../../terraform.mitm.tfstate" });
        new NixosRebuild(stack, "web-1", {
          host: ADDRESS,
          port: 10030,
          hostKey: installedKey,
          initrdHostKey: fs.readFileSync(path.join(lab.hostsDir, "web-1", "pins", "initrd"), "utf8").trim(),
          hostName: "web-1",
          hostsDir: path.relative(ROOT, path.join(work, "mitm-hosts")),
          identity: SshIdentity.keyFile(path.relative(ROOT, lab.host.clientKey)),
          authorizedKeys: [fs.readFileSync(`${lab.host.clientKey}.pub`, "utf8").trim()],
        });
        app.synth();
      } finally {
        process.chdir(cwd);
      }
      const stackDir = path.join(outdir, "stacks", "mitm");
      expect((await terraform(stackDir, ["init", "-input=false", "-no-color"])).code).toBe(0);
      const r = await terraform(stackDir, ["apply", "-auto-approve", "-input=false", "-no-color"]);
      expect(r.output).toMatch(/\[web-1 rebuild\] error: 127\.0\.32\.2:10030 offers host key SHA256:\S+, which is none of the keys this chain pinned/);
      expect(r.output).toContain("this may be a man in the middle; nothing secret was sent");
      expect(r.code).not.toBe(0);
      expect(impostor.received()).toEqual([]);
      // The given key was pinned for the host's records; nothing else was written there.
      expect(fs.readFileSync(path.join(work, "mitm-hosts", "web-1", "pins", "installed"), "utf8").trim()).toBe(installedKey);
    });
  });
});
