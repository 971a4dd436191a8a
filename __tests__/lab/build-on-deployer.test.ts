// buildOn: "deployer" through the real terraform against the lab's simulated host: a real
// Nix on the deploy side (Debian 13's 2.26, lab/nix-trixie) builds the system of the
// user's flake, a real `nix copy` sends its closure over the installer's pinned SSH
// master into the new pool's store (a real `nix-store --serve --write`: Debian's Nix on
// the lab host), and do-install runs `nixos-install --system` (a recorder, which checks
// the closure against /mnt's real Nix database). Then NixosRebuild does the same with a
// changed flake; a failed build changes nothing; a generation that cuts SSH is rolled
// back by the host's own timer.
//
// The "system" is a stand-in: no nixpkgs can be fetched here, so the flake's toplevel is
// two plain derivations laid out as the lab's installed host reads a system (root's keys
// in etc/, bin/switch-to-configuration back to the lab's recorder, the flake for the
// lab's markers). What is proven is the plumbing: build, pinned copy, install, switch.
// Needs root, sshd, terraform, Debian's nix-bin and the trixie chroot (NIX_TRIXIE_ROOT,
// built by lab/nix-trixie/build as .ci/run does); skips with the reason without them.
// The deploy side's refusals (no Nix, a failed build, no store path) need none of it.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import { labRecords, ROOT, RunResult, startLab } from "../../lab/lab";

jest.setTimeout(600_000);

const TRIXIE_ROOT = process.env.NIX_TRIXIE_ROOT || path.join(ROOT, ".lab", "cache", "nix-trixie");
const WRAPPER = path.join(ROOT, "lab", "nix-trixie", "nix");
function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (the lab host and the chroot)";
  if (!fs.existsSync(path.join(TRIXIE_ROOT, ".lab-nix-version"))) return `no trixie Nix in ${TRIXIE_ROOT} (NIX_TRIXIE_ROOT): build it with lab/nix-trixie/build, as .ci/run does`;
  if (!fs.existsSync(path.join(TRIXIE_ROOT, "usr", "bin", "ssh"))) return `the trixie chroot ${TRIXIE_ROOT} has no ssh client: run lab/nix-trixie/build again (it adds one)`;
  if (spawnSync("nix-store", ["--version"]).status !== 0) return "needs Debian's nix-bin on this machine (the lab host's nix-store --serve): apt-get install nix-bin";
  return undefined;
}
const skip = skipReason();
if (skip) console.log(`skipped build-on-deployer: ${skip}`);

const CANARY = `canary-${randomBytes(12).toString("hex")}`;
const ADDRESS = "127.0.34.2";
const ROLLBACK = 60;
const work = path.join(ROOT, ".lab", "test-build-on-deployer");
const infra = path.join(ROOT, ".lab", "test-build-on-deployer-infra");
// The deploy side's Nix: no daemon, no build users, no substituter in the lab's chroot;
// the stand-in builders use the chroot's coreutils, so no sandbox.
const NIX_CONFIG = ["build-users-group =", "sandbox = false", "substituters ="].join("\n");

/**
 * The user's flake: nixosConfigurations.web-1's toplevel is a stand-in system whose etc/
 * (root's keys, from ./authorized_keys) is a derivation of its own, so the closure has
 * two paths. `builder` "fails" makes the build fail.
 */
function flakeNix(comment: string, builder: "ok" | "fails" = "ok"): string {
  const recorder = `exec env LAB_TOPLEVEL=%s ${process.execPath} /.lab/code/lib/recorder.js switch-to-configuration "$@"`;
  return `{
  # a stand-in system, laid out as the loopback lab's installed host reads one
  outputs = { self }:
    let
      build = name: attrs: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; } // attrs);
      etc = build "lab-etc-web-1" {
        keys = builtins.readFile ./authorized_keys;
        args = [ "-c" "mkdir -p $out/ssh/authorized_keys.d && printf '%s' \\"$keys\\" > $out/ssh/authorized_keys.d/root" ];
      };
      toplevel = build "nixos-system-web-1-26.05.deployer" {
        inherit etc;
        flake = ./flake.nix;
        args = [ "-c" ''
          ${builder === "fails" ? "echo 'lab: this build fails' >&2; exit 1" : ""}
          mkdir -p $out/bin $out/flake
          # a copy, not a link: the lab reads etc/ from outside the host's root at boot;
          # the path written beside it keeps etc's derivation in the closure
          cp -R $etc $out/etc
          echo $etc > $out/etc-source
          cp $flake $out/flake/flake.nix
          printf '#!/bin/sh\\n${recorder}\\n' $out > $out/bin/switch-to-configuration
          chmod 755 $out/bin/switch-to-configuration
        '' ];
      };
    in { nixosConfigurations.web-1.config.system.build.toplevel = toplevel; };
}
${comment}
`;
}

const git = (...args: string[]) => execFileSync("git", ["-C", infra, "-c", "user.email=t@example.org", "-c", "user.name=t", ...args], { encoding: "utf8" });
function commitFlake(comment: string, builder: "ok" | "fails" = "ok"): void {
  fs.writeFileSync(path.join(infra, "flake.nix"), flakeNix(comment, builder));
  git("add", ".");
  git("commit", "-q", "-m", comment);
}

(skip ? describe.skip : describe)("buildOn: \"deployer\" in the lab (a real Nix builds, a real nix copy sends over the pinned master)", () => {
  let lab: Awaited<ReturnType<typeof startLab>>;
  let install: RunResult;
  const outputs: string[] = [];
  const disk = () => path.join(lab.host.dir, "disk", "mnt");
  const generation = () => Number(/^system-(\d+)-link$/.exec(fs.readlinkSync(path.join(disk(), "nix/var/nix/profiles/system")))![1]);
  const toplevelOf = (n: number) => fs.readlinkSync(path.join(disk(), `nix/var/nix/profiles/system-${n}-link`));
  const lines = (r: RunResult) => r.output.split("\n").filter((l) => /\[web-1 |^rebuild:|do-install:|error/i.test(l)).join("\n");
  const apply = async () => {
    const r = await lab.apply();
    outputs.push(r.output);
    return r;
  };
  /** The deploy side's own build of the flake as committed now (the same store path, or the test would be moot). */
  const deployerBuild = (dir: string) =>
    execFileSync(WRAPPER, ["--extra-experimental-features", "nix-command flakes", "build", "--no-link", "--print-out-paths", "--no-update-lock-file", `path:${dir}#nixosConfigurations.web-1.config.system.build.toplevel`], {
      encoding: "utf8",
      env: { ...process.env, NIX_CONFIG, NIX_TRIXIE_ROOT: TRIXIE_ROOT },
    }).trim();

  beforeAll(async () => {
    fs.rmSync(infra, { recursive: true, force: true });
    fs.mkdirSync(infra, { recursive: true });
    git("init", "-q");
    fs.writeFileSync(path.join(infra, "authorized_keys"), "# root's keys\n");
    commitFlake("# first generation");
    lab = await startLab({
      work,
      passphrase: CANARY,
      address: ADDRESS,
      flakeDir: infra,
      buildOn: "deployer",
      hostsDir: path.join(work, "hosts"),
      extraEnv: { CDKTF_NIXOS_INSTALLER_NIX: WRAPPER, NIX_CONFIG, NIX_TRIXIE_ROOT: TRIXIE_ROOT },
      rebuild: { rollbackTimeout: ROLLBACK },
    });
    // root's key on the built system: the lab host's client key, known once it is up
    fs.appendFileSync(path.join(infra, "authorized_keys"), fs.readFileSync(`${lab.host.clientKey}.pub`));
    git("commit", "-q", "-am", "keys");
    lab.synth();
    install = await apply();
  });
  afterAll(async () => {
    await lab?.close();
  });

  test("terraform apply builds on the deploy machine, copies the closure into the new pool and installs it with nixos-install --system", () => {
    if (install.code !== 0) throw new Error(`terraform apply failed:\n${lines(install)}`);
    expect(install.output).toMatch(/\[web-1 install\] built \/nix\/store\/[0-9a-z]{32}-nixos-system-web-1-26\.05\.deployer/);
    expect(install.output).toMatch(/\[web-1 install\] copying the closure of \/nix\/store\/\S+ to 127\.0\.34\.2 \(local\?root=\/mnt\) \(nix copy over the pinned installer connection\)/);
    expect(install.output).toMatch(/\[web-1 verify\] verified: 26\.05[^,]*, hostname web-1/);
    const installs = labRecords(lab.host).filter((r: any) => r.tool === "nixos-install");
    expect(installs).toHaveLength(1);
    const [record] = installs as any[];
    expect(record.argv.join(" ")).toMatch(/^--no-root-passwd --root \/mnt --no-channel-copy --system \/nix\/store\/[0-9a-z]{32}-nixos-system-web-1-26\.05\.deployer$/);
    // the closure, as /mnt's real Nix database holds it: the system and its etc/
    expect(record.closure).toHaveLength(2);
    expect(record.closure).toContain(record.system);
    expect(record.closure.find((p: string) => p !== record.system)).toMatch(/-lab-etc-web-1$/);
    // what was built is what is installed: the profile points at it, root's keys came from it
    expect(toplevelOf(generation())).toBe(record.system);
    expect(fs.readFileSync(path.join(disk(), record.system, "etc", "ssh", "authorized_keys.d", "root"), "utf8")).toBe(fs.readFileSync(path.join(infra, "authorized_keys"), "utf8"));
  });

  test("the host's /etc/nixos holds the user's flake byte for byte, with runtime-info where it reads it", () => {
    const etc = path.join(disk(), "persist", "etc", "nixos");
    expect(fs.readFileSync(path.join(etc, "flake.nix"), "utf8")).toBe(fs.readFileSync(path.join(infra, "flake.nix"), "utf8"));
    expect(JSON.parse(fs.readFileSync(path.join(etc, "hosts", "web-1", "runtime-info.json"), "utf8")).hostName).toBe("web-1");
    // no inputs, no lock: do-install added none (a system built elsewhere is pinned by the flake's own)
    expect(fs.existsSync(path.join(etc, "flake.lock"))).toBe(false);
  });

  test("the same flake built again on the deploy side gives the installed store path (the install built what the flake says)", () => {
    // (in the temp folder: the chroot's Nix sees that at its own path, not the repository)
    const staged = fs.mkdtempSync(path.join(os.tmpdir(), "build-on-deployer-"));
    fs.cpSync(infra, staged, { recursive: true, filter: (src) => !src.includes(`${path.sep}.git`) });
    fs.mkdirSync(path.join(staged, "hosts", "web-1"), { recursive: true });
    fs.copyFileSync(path.join(lab.hostsDir, "web-1", "runtime-info.json"), path.join(staged, "hosts", "web-1", "runtime-info.json"));
    const record = labRecords(lab.host).find((r: any) => r.tool === "nixos-install") as any;
    try {
      expect(deployerBuild(staged)).toBe(record.system);
    } finally {
      fs.rmSync(staged, { recursive: true, force: true });
    }
  });

  test("a rebuild of a changed flake builds on the deploy machine, copies the closure and switches: nixos-rebuild never runs on the host", async () => {
    const before = generation();
    commitFlake("# second generation");
    lab.synth();
    const r = await apply();
    if (r.code !== 0) throw new Error(`terraform apply failed:\n${lines(r)}`);
    expect(r.output).toMatch(/\[web-1 rebuild\] copying the closure of \/nix\/store\/\S+ to 127\.0\.34\.2 \(nix copy over the pinned installed connection\)/);
    expect(r.output).toMatch(/rebuild: taking \/nix\/store\/\S+, built on the deploy machine/);
    expect(r.output).toMatch(/confirmed: generation \d+ runs on 127\.0\.34\.2 \(switch\)/);
    expect(generation()).toBe(before + 1);
    const now = toplevelOf(generation());
    expect(now).toMatch(/-nixos-system-web-1-26\.05\.deployer$/);
    expect(now).not.toBe(toplevelOf(before));
    expect(fs.readFileSync(path.join(disk(), now, "flake", "flake.nix"), "utf8")).toContain("# second generation");
    expect(labRecords(lab.host).filter((x: any) => x.tool === "nixos-rebuild")).toEqual([]);
  });

  test("a build that fails on the deploy machine stops the rebuild before anything is sent: the host is unchanged", async () => {
    const before = generation();
    const etcNixos = fs.readFileSync(path.join(disk(), "persist", "etc", "nixos", "flake.nix"), "utf8");
    const records = labRecords(lab.host).length;
    commitFlake("# broken generation", "fails");
    lab.synth();
    const r = await apply();
    expect(r.code).not.toBe(0);
    expect(r.output).toContain("lab: this build fails");
    expect(r.output).toMatch(/the build of nixosConfigurations\.web-1 on the deploy machine failed \(nix build, exit 1; its messages are above\); nothing was sent to 127\.0\.34\.2/);
    expect(generation()).toBe(before);
    expect(fs.readFileSync(path.join(disk(), "persist", "etc", "nixos", "flake.nix"), "utf8")).toBe(etcNixos);
    // the install's phases run again (the flake is part of its identity) and only read
    // (verify); the rebuild touched nothing: no profile, switch, timer or build on the host
    const since = labRecords(lab.host).slice(records).map((x: any) => x.tool);
    expect(since.filter((t: string) => ["nix-env", "switch-to-configuration", "systemd-run", "nixos-rebuild", "nixos-install"].includes(t))).toEqual([]);
  });

  test("a built generation that cuts SSH is rolled back by the host's own timer, and the apply fails saying so", async () => {
    const before = generation();
    commitFlake("# lab: cuts ssh");
    lab.synth();
    const r = await apply();
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/did not confirm within 60 s over a new SSH connection pinned to the host key: the host's own timer rolled it back to generation \d+/);
    expect(fs.readlinkSync(path.join(disk(), "nix/var/nix/profiles/system"))).toBe(`system-${before}-link`);
  });

  test("the canary passphrase is in no output", () => {
    for (const o of outputs) expect(o).not.toContain(CANARY);
  });
});

// The deploy side's errors before anything reaches a host: no Nix, a failed build, a
// build that prints no store path. common.sh sourced as a phase does; no lab host needed.
describe("build_on_deployer's refusals, before anything is sent", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "deployer-nix-"));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const run = (nix: string) =>
    spawnSync("bash", ["-c", 'PHASE=install; . "$COMMON"; build_on_deployer "$TMPDIR" web-1; echo "SYSTEM=$SYSTEM"'], {
      encoding: "utf8",
      timeout: 30_000,
      env: {
        ...process.env,
        COMMON: path.join(ROOT, "lib", "scripts", "common.sh"),
        TMPDIR: tmp,
        CDKTF_NIXOS_INSTALLER_NIX: nix,
        NI_HOST: "203.0.113.10", NI_PORT: "22", NI_USER: "root", NI_UNLOCK_PORT: "2222",
        NI_HOST_NAME: "web-1", NI_HOSTS_DIR: path.join(tmp, "hosts"), NI_TIMEOUT: "30",
      },
    });
  const fake = (name: string, body: string) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, `#!/bin/sh\n[ "$1" = --version ] && { echo "nix (Nix) 0.0-fake"; exit 0; }\n${body}\n`, { mode: 0o755 });
    return file;
  };

  test("no Nix on the deploy machine: names the missing command and what to do", () => {
    const r = run(path.join(tmp, "no-such-nix"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`[web-1 install] error: buildOn is "deployer" but there is no Nix on this deploy machine ('${path.join(tmp, "no-such-nix")}' not found); nothing was sent to 203.0.113.10`);
    expect(r.stderr).toContain("install Nix here (or set CDKTF_NIXOS_INSTALLER_NIX to its path), or set buildOn: \"target\"");
    expect(r.stdout).not.toContain("SYSTEM=");
  });

  test("a build that fails: its exit code, and that nothing was sent", () => {
    const r = run(fake("failing-nix", "echo 'error: flake lock would change' >&2; exit 1"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("error: flake lock would change");
    expect(r.stderr).toContain("error: the build of nixosConfigurations.web-1 on the deploy machine failed (nix build, exit 1; its messages are above); nothing was sent to 203.0.113.10");
  });

  test("a build that prints no store path is refused, showing what it printed", () => {
    const r = run(fake("odd-nix", "echo '/tmp/not-a-store-path'"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("error: nix build printed no store path (got: /tmp/not-a-store-path)");
  });

  test("a build that succeeds sets SYSTEM to the last line it printed", () => {
    const system = `/nix/store/${"a".repeat(32)}-nixos-system-web-1`;
    const r = run(fake("good-nix", `echo "building..."; echo "${system}"`));
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(`SYSTEM=${system}`);
  });
});
