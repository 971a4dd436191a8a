// The whole install chain, applied by the real terraform against the lab's simulated
// host (lab/target/): both synthesized forms, re-apply, the canary passphrase, and a
// man in the middle between two phases. Needs root, sshd and terraform (see .ci/run).
import { execFileSync } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { filesContaining } from "../../lab/canary";
import { startImpostor } from "../../lab/impostor";
import { labHostDown, labHostRole, labRecords, phaseAddress, phaseFigures, ROOT, startLab, terraform } from "../../lab/lab";
import { parseRuntimeInfo } from "../../lib";
import { lockFileErrors } from "../support/nix-lock-file";
import { userFlakeFiles } from "../support/user-flake";

jest.setTimeout(240_000);

const canary = () => `canary-${randomBytes(16).toString("hex")}`;

describe.each([
  ["JSON", false],
  ["HCL", true],
])("the %s stack in the lab", (form, hcl) => {
  const passphrase = canary();
  const work = path.join(ROOT, ".lab", `test-chain-${form.toLowerCase()}`);
  let lab: Awaited<ReturnType<typeof startLab>>;
  let apply: Awaited<ReturnType<typeof terraform>>;

  beforeAll(async () => {
    lab = await startLab({ work, passphrase, hcl, extraEnv: { TF_LOG: "TRACE" } });
    apply = await lab.apply();
  });
  afterAll(async () => {
    await lab?.close();
  });

  test("terraform apply takes the host through probe, kexec, install, unlock and verify", () => {
    if (apply.code !== 0) throw new Error(`terraform apply failed:\n${apply.output.split("\n").filter((l) => /\[web-1 |Error/.test(l)).join("\n")}`);
    expect(Object.keys(phaseFigures(apply.output))).toEqual(["probe", "kexec", "install", "unlock", "verify"]);
    expect(apply.output).toMatch(/\[web-1 verify\] verified: 26\.05[^,]*, hostname web-1, pool rpool aes-256-gcm \(key available\)/);
    expect(labHostRole(lab.host.dir)).toBe("installed");
  });

  test("leaves hosts/web-1/ with valid runtime-info and the installed system's public keys", () => {
    const dir = path.join(lab.hostsDir, "web-1");
    const info = parseRuntimeInfo(JSON.parse(fs.readFileSync(path.join(dir, "runtime-info.json"), "utf8")));
    expect(info).toMatchObject({ hostName: "web-1", system: "x86_64-linux", hoster: { kind: "generic" } });
    expect(fs.readFileSync(path.join(dir, "ssh_host_ed25519_key.pub"), "utf8")).toBe(fs.readFileSync(path.join(dir, "pins", "installed"), "utf8"));
    expect(fs.readFileSync(path.join(dir, "initrd_ssh_host_ed25519_key.pub"), "utf8")).toMatch(/^ssh-ed25519 AAAA/);
    // Four roles, four different keys.
    const pins = ["base", "installer", "initrd", "installed"].map((r) => fs.readFileSync(path.join(dir, "pins", r), "utf8"));
    expect(new Set(pins).size).toBe(4);
  });

  test("a second terraform apply changes nothing", async () => {
    const again = await lab.apply();
    expect(again.code).toBe(0);
    expect(again.output).toMatch(/No changes\. Your infrastructure matches the configuration\./);
    expect(again.output).not.toMatch(/Provisioning with/);
  });

  test("do-install wrote the host template verbatim, and the Nix functions read its runtime-info into the layout it made", () => {
    const flakeDir = path.join(lab.host.dir, "disk", "mnt", "persist", "etc", "nixos");
    expect(fs.readFileSync(path.join(flakeDir, "flake.nix"), "utf8")).toBe(fs.readFileSync(path.join(ROOT, "nix", "templates", "host", "flake.nix"), "utf8"));
    const host = JSON.parse(
      execFileSync("nix-instantiate", ["--eval", "--strict", "--json", path.join(ROOT, "nix", "tests", "eval-host.nix"), "--argstr", "runtimeInfo", path.join(flakeDir, "runtime-info.json")], {
        encoding: "utf8",
      }),
    );
    expect(host).toMatchObject({ hostName: "web-1", system: "x86_64-linux", hostId: expect.stringMatching(/^[0-9a-f]{8}$/) });
    const records: any[] = labRecords(lab.host);
    // The partitions sgdisk made are the ones the installed system's disko layout names…
    const layout = records.find((r) => r.tool === "sgdisk" && r.layout).layout as { label: string; typecode: string }[];
    expect(layout.map((p) => p.label)).toEqual(host.partlabels);
    const partitions = host.disko.disk.disk0.content.partitions as Record<string, { type: string }>;
    expect(layout.map((p) => p.typecode)).toEqual(Object.values(partitions).map((p) => p.type));
    // …and the datasets zfs created are the ones it mounts.
    const created = records.filter((r) => r.tool === "zfs" && r.argv[0] === "create").map((r) => r.argv[r.argv.length - 1].replace(/^rpool\//, ""));
    expect(created.sort()).toEqual([...host.pool.datasets].sort());
    expect(records.some((r) => r.tool === "zfs" && r.argv[0] === "snapshot" && r.argv[1] === host.pool.blankSnapshot)).toBe(true);
  });

  test("nixos-install builds the template locked to the installer's sources: no GitHub or https reference in the flake or its lock", () => {
    const install = labRecords(lab.host).filter((r: any) => r.tool === "nixos-install" && r.flakeLock !== undefined);
    expect(install).toHaveLength(1);
    const [{ argv, flakeNix, flakeLock }] = install as any[];
    expect(argv.join(" ")).toBe("--no-root-passwd --root /mnt --flake /mnt/persist/etc/nixos#web-1");
    expect(flakeNix).toBe(fs.readFileSync(path.join(ROOT, "nix", "templates", "host", "flake.nix"), "utf8"));
    for (const text of [flakeNix, flakeLock]) expect(text).not.toMatch(/github:|https?:|git\+|tarball/i);
    const lock = JSON.parse(flakeLock);
    expect(lockFileErrors(lock)).toEqual([]);
    // every node is locked to a source the installer carries (lab/target/installer-sources.json), by path and narHash
    const carried = Object.values(JSON.parse(fs.readFileSync(path.join(ROOT, "lab", "target", "installer-sources.json"), "utf8")).sources).map((s: any) => JSON.stringify(s.locked));
    const nodes = Object.entries(lock.nodes as Record<string, any>).filter(([k]) => k !== lock.root);
    expect(nodes.map(([k]) => k).sort()).toEqual(["cdktf-nixos-installer", "disko", "impermanence", "nixpkgs"]);
    for (const [, node] of nodes) {
      expect(node.locked).toMatchObject({ type: "path", path: expect.stringMatching(/^\/nix\/store\/[a-z0-9]{32}-source$/), narHash: expect.stringMatching(/^sha256-/) });
      expect(carried).toContain(JSON.stringify(node.locked));
    }
    expect(lock.nodes.root).toEqual({ inputs: { "cdktf-nixos-installer": "cdktf-nixos-installer" } });
    expect(lock.nodes["cdktf-nixos-installer"].original).toEqual({ type: "indirect", id: "cdktf-nixos-installer" });
    expect(lock.nodes.disko.inputs).toEqual({ nixpkgs: ["cdktf-nixos-installer", "nixpkgs"] });
    // Below cdktf-nixos-installer, `original` is how its flake.nix names each input
    // (GitHub coordinates, as Nix writes them): Nix evaluates the `locked` store path;
    // `original` is what a later `nix flake update` on the host would follow.
    expect(lock.nodes.nixpkgs.original).toEqual({ type: "github", owner: "NixOS", repo: "nixpkgs", ref: "nixos-26.05" });
    // the same lock stays with the flake on /persist, the installed host's /etc/nixos
    expect(fs.readFileSync(path.join(lab.host.dir, "disk", "mnt", "persist", "etc", "nixos", "flake.lock"), "utf8")).toBe(flakeLock);
  });

  test("the canary passphrase is nowhere: configuration, state, TRACE output, records, kernel command line", () => {
    expect(apply.output).toContain("TRACE"); // the output searched really is the TRACE log
    expect(apply.output).not.toContain(passphrase);
    const records: any[] = labRecords(lab.host);
    const kexecLoad = records.find((r) => r.tool === "kexec" && r.cmdline !== undefined);
    expect(kexecLoad.cmdline).toMatch(/^init=\/nix\/store\//);
    // The passphrase did reach the pool: as the stdin of zpool create (recorded as a hash).
    expect(records.some((r) => r.tool === "zpool" && r.argv[0] === "create" && r.stdinBytes > 0)).toBe(true);
    // Every file of this run: cdk.tf(.json), the state, hosts/, the lab host's records, logs and disk.
    expect(filesContaining(passphrase, [work])).toEqual([]);
  });
});

describe("a man in the middle between two phases", () => {
  const passphrase = canary();
  const work = path.join(ROOT, ".lab", "test-chain-mitm");
  let lab: Awaited<ReturnType<typeof startLab>>;
  afterAll(async () => {
    await lab?.close().catch(() => undefined);
  });

  test("a changed host key after kexec stops the install phase before the passphrase is sent", async () => {
    lab = await startLab({ work, passphrase });
    const first = await terraform(lab.stackDir, ["apply", "-auto-approve", "-input=false", "-no-color", `-target=${phaseAddress(lab.stackDir, "kexec")}`], lab.tfEnv);
    expect(first.code).toBe(0);
    expect(labHostRole(lab.host.dir)).toBe("installer");
    // The real installer goes away; something else answers on its address and port.
    labHostDown(lab.host.dir);
    const impostor = await startImpostor({ dir: path.join(work, "impostor"), address: lab.host.address, port: lab.host.port, clientPublicKey: `${lab.host.clientKey}.pub` });
    try {
      const second = await lab.apply();
      expect(second.code).not.toBe(0);
      expect(second.output).toMatch(/\[web-1 install\] error: 127\.0\.0\.2:10022 offers host key SHA256:\S+, which is none of the keys this chain pinned/);
      expect(second.output).toMatch(/nothing secret was sent/);
      expect(second.output).not.toMatch(/\[web-1 (unlock|verify)\]/);
      // The impostor never got a session, let alone a passphrase, nor even a user name:
      // the chain's key polls reached it (with the classic key exchange they ask for) and
      // ended at the host key check, before authentication.
      expect(impostor.received()).toEqual([]);
      expect(impostor.log()).toMatch(/kex: algorithm: curve25519-sha256/);
      expect(impostor.log()).not.toMatch(/userauth-request/);
      expect(filesContaining(passphrase, [work])).toEqual([]);
    } finally {
      await impostor.stop();
    }
  });
});

describe("a bundle from a flake", () => {
  const work = path.join(ROOT, ".lab", "test-chain-flake");
  let lab: Awaited<ReturnType<typeof startLab>>;
  afterAll(async () => {
    await lab?.close();
  });

  test("is built with nix build when the kexec phase runs, never at plan time", async () => {
    lab = await startLab({ work, passphrase: canary(), flake: true });
    const calls = path.join(work, "nix-calls");
    const plan = await terraform(lab.stackDir, ["plan", "-input=false", "-no-color"], lab.tfEnv);
    expect(plan.code).toBe(0);
    expect(fs.existsSync(calls)).toBe(false);
    const apply = await lab.apply();
    expect(apply.code).toBe(0);
    expect(fs.readFileSync(calls, "utf8")).toBe(
      "--extra-experimental-features nix-command flakes build --no-link --print-out-paths github:cdktf-nixos-installer/cdktf-nixos-installer#packages.x86_64-linux.kexec\n",
    );
    expect(apply.output).toMatch(/\[web-1 kexec\] building github:cdktf-nixos-installer\/cdktf-nixos-installer#packages\.x86_64-linux\.kexec/);
  });
});

describe("a user's flake directory instead of the template (HostConfiguration.fromFlake)", () => {
  const work = path.join(ROOT, ".lab", "test-chain-user-flake");
  // the infra repo: its own git work tree, beside the run (startLab empties `work`)
  const infra = path.join(ROOT, ".lab", "test-chain-user-flake-infra");
  const git = (...args: string[]) => execFileSync("git", ["-C", infra, "-c", "user.email=t@example.org", "-c", "user.name=t", ...args], { encoding: "utf8" });
  const sha = (f: string) => createHash("sha256").update(fs.readFileSync(f)).digest("hex");
  let lab: Awaited<ReturnType<typeof startLab>>;
  let apply: Awaited<ReturnType<typeof terraform>>;
  const plan = () => terraform(lab.stackDir, ["plan", "-input=false", "-no-color", "-detailed-exitcode"], lab.tfEnv);

  beforeAll(async () => {
    fs.rmSync(infra, { recursive: true, force: true });
    for (const [rel, content] of Object.entries(userFlakeFiles())) {
      fs.mkdirSync(path.dirname(path.join(infra, rel)), { recursive: true });
      fs.writeFileSync(path.join(infra, rel), content);
    }
    fs.writeFileSync(path.join(infra, "deploy-hook"), "#!/bin/sh\necho deployed\n", { mode: 0o755 });
    git("init", "-q");
    git("add", ".");
    git("commit", "-q", "-m", "infra");
    // neither is sent: git does not track the notes, nix build leaves result
    fs.writeFileSync(path.join(infra, "notes.txt"), "not tracked\n");
    fs.symlinkSync("/nix/store/00000000000000000000000000000000-nixos-system", path.join(infra, "result"));
    lab = await startLab({ work, passphrase: canary(), flakeDir: infra, hostsDir: path.join(infra, "hosts") });
    // root's key on the installed system comes from the user's flake (lib.mkHosts
    // authorizedKeys): the lab host's client key, known once the lab host is up
    fs.appendFileSync(path.join(infra, "authorized_keys"), fs.readFileSync(`${lab.host.clientKey}.pub`));
    git("commit", "-q", "-am", "keys");
    lab.synth();
    apply = await lab.apply();
  });
  afterAll(async () => {
    await lab?.close();
  });

  test("terraform apply installs and verifies the host from the user's flake", () => {
    if (apply.code !== 0) throw new Error(`terraform apply failed:\n${apply.output.split("\n").filter((l) => /\[web-1 |Error/.test(l)).join("\n")}`);
    expect(apply.output).toMatch(/\[web-1 verify\] verified: 26\.05[^,]*, hostname web-1/);
    expect(apply.output).toMatch(/running nixos-install for web-1 \(nixosConfigurations\.web-1\)/);
  });

  test("the recorded nixos-install sees the user's tracked files byte for byte, runtime-info at hosts/web-1/, and builds nixosConfigurations.web-1", () => {
    const install = labRecords(lab.host).filter((r: any) => r.tool === "nixos-install" && r.flakeFiles !== undefined);
    expect(install).toHaveLength(1);
    const [{ argv, flakeFiles, flakeLock }] = install as any[];
    expect(argv.join(" ")).toBe("--no-root-passwd --root /mnt --flake /mnt/persist/etc/nixos#web-1");
    const tracked = git("ls-files").trim().split("\n").filter((f) => f !== "flake.lock");
    const expected: Record<string, { sha256: string; mode: string }> = {};
    for (const f of tracked) expected[f] = { sha256: sha(path.join(infra, f)), mode: (fs.statSync(path.join(infra, f)).mode & 0o100 ? "755" : "644") };
    // the runtime-info the install phase sent (the probe's), where lib.mkHosts reads it
    const sent = path.join(lab.host.dir, "disk", "mnt", "persist", "etc", "nixos", "hosts", "web-1", "runtime-info.json");
    expected["hosts/web-1/runtime-info.json"] = { sha256: sha(sent), mode: "644" };
    expect(JSON.parse(fs.readFileSync(sent, "utf8")).hostName).toBe("web-1");
    const { "flake.lock": lockFile, ...rest } = flakeFiles;
    expect(rest).toEqual(expected);
    expect(lockFile.mode).toBe("644");
    expect(Object.keys(flakeFiles)).not.toContain("notes.txt");
    expect(Object.keys(flakeFiles)).not.toContain("result");
    // the user's lock, every node re-pinned to the carried source of the same narHash;
    // `original` stays as the user's Nix wrote it
    const lock = JSON.parse(flakeLock);
    const user = JSON.parse(fs.readFileSync(path.join(infra, "flake.lock"), "utf8"));
    expect(lockFileErrors(lock)).toEqual([]);
    const carried = JSON.parse(fs.readFileSync(path.join(ROOT, "lab", "target", "installer-sources.json"), "utf8")).sources as Record<string, { locked: { narHash: string } }>;
    for (const [key, node] of Object.entries(lock.nodes as Record<string, any>)) {
      if (key === lock.root) {
        expect(node).toEqual(user.nodes[key]);
        continue;
      }
      expect(node.locked).toEqual(Object.values(carried).find((c) => c.locked.narHash === user.nodes[key].locked.narHash)!.locked);
      expect({ ...node, locked: undefined }).toEqual({ ...user.nodes[key], locked: undefined });
    }
  });

  test("hosts/web-1/ lands in the infra repo, and with it committed a new synth plans no change", async () => {
    for (const f of ["runtime-info.json", "ssh_host_ed25519_key.pub", "initrd_ssh_host_ed25519_key.pub", "pins/installed"]) expect(fs.existsSync(path.join(infra, "hosts", "web-1", f))).toBe(true);
    git("add", "hosts");
    git("commit", "-q", "-m", "hosts/web-1 from the verify phase");
    lab.synth();
    const r = await plan();
    expect(r.output).toMatch(/No changes\. Your infrastructure matches the configuration\./);
    expect(r.code).toBe(0);
  });

  test("a changed byte of the flake shows in terraform plan: the install's identity changed", async () => {
    const before = JSON.parse(fs.readFileSync(path.join(lab.stackDir, "cdk.tf.json"), "utf8"));
    fs.appendFileSync(path.join(infra, "common.nix"), "# tuned\n");
    lab.synth();
    const r = await plan();
    const probe = Object.entries(before.resource.terraform_data as Record<string, any>).find(([, v]) => v.triggers_replace.phase === "probe")!;
    expect(r.code).toBe(2);
    expect(r.output).toMatch(new RegExp(`terraform_data\\.${probe[0]} must be replaced`));
    expect(r.output).toMatch(new RegExp(`~ configuration += "${probe[1].triggers_replace.configuration}" -> "sha256:[0-9a-f]{64}"`));
  });
});
