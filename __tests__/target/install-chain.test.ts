import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { userFlakeFiles, userFlakeLock } from "../support/user-flake";
import { filesContaining, LabHost, labDown, labRole, labUp, records, sendStandInBundle, ssh, STAND_IN_CMDLINE, upload, waitForRole } from "./lab-helpers";

const CANARY = "canary-Pa55phrase-7f3c9e";
const pub = (f: string) => fs.readFileSync(f, "utf8").split(" ").slice(0, 2).join(" ");

describe("the install chain against a lab host (hcloud-x86)", () => {
  let h: LabHost;
  let installerKey = "";

  beforeAll(() => {
    h = labUp("chain", "127.0.0.41", 23041, "hcloud-x86");
  }, 30000);
  afterAll(() => labDown(h), 30000);

  /** A user's flake directory, sent to the installer's /tmp/NAME as the install phase sends one (tar). */
  const send = (name: string, files: Record<string, string>) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "user-flake-"));
    try {
      for (const [rel, content] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        fs.writeFileSync(path.join(dir, rel), content);
      }
      const tar = execFileSync("tar", ["-C", dir, "-cf", "-", "."]);
      expect(ssh(h, installerKey, `rm -rf /tmp/${name} && mkdir -p /tmp/${name} && tar -C /tmp/${name} -xf -`, tar).status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };

  it("keeps the target away from this machine: no block device, writes to / stay in the namespace", () => {
    const marker = `/lab-escape-${process.pid}`;
    const r = ssh(h, h.baseHostKey, `find /dev -type b | wc -l; echo x > ${marker} && cat ${marker}; ls /sys; mount -t tmpfs none /tmp 2>&1 >/dev/null; echo rc=$?`);
    expect(r.stdout).toMatch(/^0\nx\n/);
    expect(r.stdout).toMatch(/rc=1\n$/);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("run-installer appends the cpio with the three files, kexecs and ends the session cleanly", async () => {
    upload(h, h.baseHostKey, "write-runtime-info");
    upload(h, h.baseHostKey, "run-installer");
    sendStandInBundle(h, h.baseHostKey);
    const ri = ssh(h, h.baseHostKey, "/tmp/write-runtime-info --hostname web-1 --out /tmp/ri.json");
    expect(ri.status).toBe(0);
    const r = ssh(h, h.baseHostKey, "cat > /tmp/ak && /tmp/run-installer --bundle /tmp/bundle --runtime-info /tmp/ri.json --authorized-keys /tmp/ak", fs.readFileSync(`${h.clientKey}.pub`));
    expect(r.status).toBe(0);
    const m = /^installer-host-key: (ssh-ed25519 \S+)$/m.exec(r.stdout);
    expect(m).not.toBeNull();
    installerKey = m![1];
    await waitForRole(h, "installer");
    const load = records(h).find((x) => x.tool === "kexec" && x.argv?.includes("-l"))!;
    expect(load.syscall).toBe("kexec_file_load");
    expect(load.cpioFiles).toEqual([
      "etc/cdktf-nixos-installer/runtime-info.json",
      "etc/ssh/authorized_keys.d/root",
      "etc/ssh/ssh_host_ed25519_key",
      "etc/ssh/ssh_host_ed25519_key.pub",
    ]);
    expect(load.cmdline).toBe(STAND_IN_CMDLINE);
    expect(JSON.stringify(load)).not.toContain(CANARY);
    expect(records(h).some((x) => x.tool === "kexec" && x.argv?.join(" ") === "-e")).toBe(true);
  });

  it("the installer answers with the key run-installer made, behind its marker", () => {
    const r = ssh(h, installerKey, "test -e /etc/cdktf-nixos-installer/installer && echo installer; hostname");
    expect(r.stdout).toBe("installer\nnixos-installer\n");
  });

  it("do-install stops before any disk is touched when the sources are missing or bad, or the template names an input the installer does not carry", () => {
    upload(h, installerKey, "do-install");
    const prep = ssh(h, installerKey, [
      "mkdir -p /tmp/tpl /tmp/tpl-github",
      "printf '{ outputs = _: { }; }\\n' > /tmp/tpl/flake.nix",
      `printf '%s\\n' '{ inputs.cdktf-nixos-installer.url = "cdktf-nixos-installer"; inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05"; outputs = _: { }; }' > /tmp/tpl-github/flake.nix`,
      "jq 'del(.sources.nixpkgs.locked.narHash)' /etc/cdktf-nixos-installer/sources.json > /tmp/sources-no-hash.json",
    ].join(" && "));
    expect(prep.status).toBe(0);
    const before = records(h).length;
    const run = (args: string) => ssh(h, installerKey, `/tmp/do-install --runtime-info /etc/cdktf-nixos-installer/runtime-info.json --authorized-keys /etc/ssh/authorized_keys.d/root ${args}`, `${CANARY}\n`);
    const missing = run("--template /tmp/tpl --sources /tmp/no-sources.json");
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^error: sources file \/tmp\/no-sources\.json is missing or empty: this installer carries no sources to lock the host flake to .*nothing was touched: kexec an installer of the same release as this do-install/m);
    const noHash = run("--template /tmp/tpl --sources /tmp/sources-no-hash.json");
    expect(noHash.status).toBe(1);
    expect(noHash.stderr).toMatch(/^error: sources file \/tmp\/sources-no-hash\.json: source\(s\) nixpkgs lack a locked \{type: "path", path: \/nix\/store\/\.\.\., narHash: sha256-\.\.\.\}; nothing was touched/m);
    const github = run("--template /tmp/tpl-github");
    expect(github.status).toBe(1);
    expect(github.stderr).toMatch(/^error: the host flake \/tmp\/tpl-github\/flake\.nix has input\(s\) this installer does not carry: nixpkgs \(url "github:NixOS\/nixpkgs\/nixos-26\.05"\); it carries cdktf-nixos-installer, disko, impermanence, nixpkgs, named by id .*nothing was touched/m);
    // not even a look at the disks
    expect(records(h).slice(before).filter((x) => x.role === "installer").map((x) => x.tool)).toEqual([]);
  });

  it("do-install stops before any disk is touched when a user's flake needs an input the installer does not carry, listing it and what to do", () => {
    upload(h, installerKey, "do-install");
    const otherNixpkgs = `sha256-${"B".repeat(43)}=`;
    send("uf-other", userFlakeFiles(userFlakeLock({ nixpkgs: otherNixpkgs })));
    const { "flake.lock": _, ...unlocked } = userFlakeFiles();
    send("uf-unlocked", unlocked);
    send("uf-stale", { ...userFlakeFiles(), "flake.nix": userFlakeFiles()["flake.nix"].replace("inputs.nixpkgs.follows", 'inputs.extra.url = "github:example/extra";\n  inputs.nixpkgs.follows') });
    const before = records(h).length;
    const run = (dir: string) =>
      ssh(h, installerKey, `/tmp/do-install --runtime-info /etc/cdktf-nixos-installer/runtime-info.json --authorized-keys /etc/ssh/authorized_keys.d/root --flake /tmp/${dir} --attribute web-1 --runtime-info-path hosts/web-1/runtime-info.json`, `${CANARY}\n`);
    const other = run("uf-other");
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(
      new RegExp(`^error: the host flake's flake\\.lock pins input\\(s\\) this installer does not carry \\(they would have to be fetched\\): nixpkgs \\(github:NixOS/nixpkgs/nixos-26\\.05, narHash ${otherNixpkgs.replace(/[+/=]/g, "\\$&")}\\); it carries cdktf-nixos-installer \\(narHash sha256-.*\\), disko .*; nothing was touched: lock those inputs to the installer's sources .* then run terraform apply again$`, "m"),
    );
    const noLock = run("uf-unlocked");
    expect(noLock.status).toBe(1);
    expect(noLock.stderr).toMatch(/^error: the host flake \/tmp\/uf-unlocked\/flake\.nix has no flake\.lock and input\(s\) this installer does not carry: cdktf-nixos-installer \(url "github:cdktf-nixos-installer\/cdktf-nixos-installer"\); nixpkgs \(url null, also follows\); it carries .*nothing was touched: lock your flake on the deploy machine/m);
    const stale = run("uf-stale");
    expect(stale.status).toBe(1);
    expect(stale.stderr).toMatch(/^error: the host flake's flake\.lock: it does not lock input\(s\) extra of flake\.nix \(stale\): run nix flake lock on the deploy machine and let git track the new flake\.lock; nothing was touched/m);
    // not even a look at the disks
    expect(records(h).slice(before).filter((x) => x.role === "installer").map((x) => x.tool)).toEqual([]);
  });

  it("do-install's two steps for a system built on the deploy machine refuse misuse, and --step system without a layout of this boot, before any disk is touched", () => {
    upload(h, installerKey, "do-install");
    send("uf-step", userFlakeFiles());
    const before = records(h).length;
    const run = (args: string) =>
      ssh(h, installerKey, `/tmp/do-install --runtime-info /etc/cdktf-nixos-installer/runtime-info.json --authorized-keys /etc/ssh/authorized_keys.d/root ${args}`, "");
    const system = `/nix/store/${"a".repeat(32)}-nixos-system-web-1`;
    const usage = [
      [`--template /tmp/uf-step --step layout`, "error: --step goes with --flake (a system built elsewhere is built from your flake) (see --help)"],
      [`--flake /tmp/uf-step --step build`, "error: --step must be layout or system, got: 'build' (see --help)"],
      [`--flake /tmp/uf-step --step system`, "error: --system PATH goes with --step system, and only there (see --help)"],
      [`--flake /tmp/uf-step --system ${system}`, "error: --system PATH goes with --step system, and only there (see --help)"],
      [`--flake /tmp/uf-step --step system --system /tmp/x`, "error: --system must be a store path (/nix/store/HASH-NAME), got: '/tmp/x' (see --help)"],
    ];
    for (const [args, message] of usage) {
      const r = run(args);
      expect({ args, status: r.status, stderr: r.stderr.trim() }).toEqual({ args, status: 2, stderr: message });
    }
    const noLayout = run(`--flake /tmp/uf-step --step system --system ${system}`);
    expect(noLayout.status).toBe(1);
    expect(noLayout.stderr).toMatch(/^error: no disk layout of pool rpool for web-1 is waiting in this installer boot \(do-install --step layout did not finish, or the installer rebooted\); nothing was touched: run terraform apply again/m);
    expect(records(h).slice(before).filter((x) => x.role === "installer").map((x) => x.tool)).toEqual([]);
  });

  it("do-install stops before the reboot when the system built from a user's flake lets none of the chain's keys in as root, naming the keys on both sides", () => {
    upload(h, installerKey, "do-install");
    const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "other-key-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "someone-else", "-f", path.join(keyDir, "k")]);
    const otherPub = fs.readFileSync(path.join(keyDir, "k.pub"), "utf8");
    const fp = (pubFile: string) => execFileSync("ssh-keygen", ["-l", "-f", pubFile], { encoding: "utf8" }).split(" ")[1];
    const otherFp = fp(path.join(keyDir, "k.pub"));
    const chainFp = fp(`${h.clientKey}.pub`);
    fs.rmSync(keyDir, { recursive: true, force: true });
    // lib.mkHosts' authorizedKeys: another key with options, or only a comment
    send("uf-other-key", { ...userFlakeFiles(), authorized_keys: `# root's keys on every host\nno-pty ${otherPub}` });
    send("uf-no-key", userFlakeFiles());
    const run = (dir: string) =>
      ssh(h, installerKey, `/tmp/do-install --runtime-info /etc/cdktf-nixos-installer/runtime-info.json --authorized-keys /etc/ssh/authorized_keys.d/root --flake /tmp/${dir} --attribute web-1 --runtime-info-path hosts/web-1/runtime-info.json`, `${CANARY}\n`);
    for (const [dir, has] of [["uf-other-key", otherFp], ["uf-no-key", "none"]]) {
      const before = records(h).length;
      const r = run(dir);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^do-install: running nixos-install for web-1 \(nixosConfigurations\.web-1\)/m);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("error:"))).toEqual([
        `error: the installed system (nixosConfigurations.web-1) lets none of the chain's keys log in as root: users.users.root.openssh.authorizedKeys gives ${has}, the chain logs in with one of ${chainFp} (authorizedKeys); booted, it could be reached by neither the verify phase nor unlock, so nothing was rebooted and this installer still answers: add one of those keys to root's keys in your flake (lib.mkHosts: authorizedKeys, or hosts/web-1/authorized_keys), commit, then run terraform apply again (the install starts over)`,
      ]);
      expect(r.stdout).not.toMatch(/host-key:/);
      const tools = records(h).slice(before).filter((x) => x.role === "installer").map((x) => `${x.tool} ${(x.argv ?? [])[0] ?? ""}`.trim());
      expect(tools).toContain("nixos-install --no-root-passwd");
      expect(tools.filter((t) => /^(zpool export|reboot|kexec)/.test(t))).toEqual([]);
      expect(labRole(h)).toBe("installer");
    }
  });

  it("do-install lays out the disk as promised and the passphrase appears in no record or file", () => {
    upload(h, installerKey, "do-install");
    // owned by some user, as tar unpacks the deploy machine's files
    const tpl = ssh(h, installerKey, "mkdir -p /tmp/tpl && cat > /tmp/tpl/flake.nix && chown -R 1000:1000 /tmp/tpl", "{ outputs = _: { }; }\n");
    expect(tpl.status).toBe(0);
    const cmd = "/tmp/do-install --runtime-info /etc/cdktf-nixos-installer/runtime-info.json --template /tmp/tpl --authorized-keys /etc/ssh/authorized_keys.d/root";
    // after the refused attempts above, which left their pool imported: the run starts over
    const before = records(h).length;
    const r = ssh(h, installerKey, cmd, `${CANARY}\n`);
    expect(r.stderr).not.toMatch(/^error:/m);
    expect(r.status).toBe(0);
    const hostKey = pub(path.join(h.dir, "disk/mnt/persist/etc/ssh/ssh_host_ed25519_key.pub"));
    const initrdKey = pub(path.join(h.dir, "disk/mnt/persist/etc/secrets/initrd/ssh_host_ed25519_key.pub"));
    expect(r.stdout).toBe(`host-key: ${hostKey}\ninitrd-host-key: ${initrdKey}\n`);

    const calls = records(h).slice(before).filter((x) => x.role === "installer").map((x) => `${x.tool} ${(x.argv ?? []).join(" ")}`);
    const disk = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_127368955";
    const expected = [
      `sgdisk --zap-all ${disk}`,
      `sgdisk --new=1:0:+1M --typecode=1:EF02 --change-name=1:disk-disk0-bios --new=2:0:+1G --typecode=2:EF00 --change-name=2:disk-disk0-esp --new=3:0:0 --typecode=3:BF00 --change-name=3:disk-disk0-zfs ${disk}`,
      `mkfs.vfat -F 32 ${disk}-part2`,
      `zpool create -f -o ashift=12 -o autotrim=on -O compression=zstd -O acltype=posix -O xattr=sa -O atime=off -O mountpoint=none -O encryption=aes-256-gcm -O keyformat=passphrase -O keylocation=prompt -R /mnt rpool ${disk}-part3`,
      "zfs create -o mountpoint=none rpool/local",
      "zfs create -o mountpoint=legacy rpool/local/root",
      "zfs create -o mountpoint=legacy rpool/local/nix",
      "zfs create -o mountpoint=none rpool/safe",
      "zfs create -o mountpoint=legacy rpool/safe/persist",
      "zfs create -o mountpoint=legacy rpool/safe/home",
      "zfs snapshot rpool/local/root@blank",
      "mount -t zfs rpool/local/root /mnt",
      "mount -t zfs rpool/local/nix /mnt/nix",
      "mount -t zfs rpool/safe/persist /mnt/persist",
      "mount -t zfs rpool/safe/home /mnt/home",
      `mount -t vfat -o umask=0077 ${disk}-part2 /mnt/boot`,
      "nixos-install --no-root-passwd --root /mnt --flake /mnt/persist/etc/nixos#web-1",
      "umount -R /mnt",
      "zpool export rpool",
    ];
    let at = 0;
    for (const c of calls) if (c === expected[at]) at++;
    expect(expected.slice(at)).toEqual([]);
    const create = records(h).find((x) => x.tool === "zpool" && x.argv?.[0] === "create")!;
    expect(create.stdinBytes).toBe(CANARY.length);
    expect(fs.readFileSync(path.join(h.dir, "disk/mnt/persist/etc/nixos/flake.nix"), "utf8")).toBe("{ outputs = _: { }; }\n");
    // root's, whoever owned the files sent
    for (const f of ["", "flake.nix", "flake.lock"]) expect(fs.statSync(path.join(h.dir, "disk/mnt/persist/etc/nixos", f))).toMatchObject({ uid: 0, gid: 0 });
    // a flake without inputs gets a lock with the root alone
    expect(JSON.parse(fs.readFileSync(path.join(h.dir, "disk/mnt/persist/etc/nixos/flake.lock"), "utf8"))).toEqual({ nodes: { root: {} }, root: "root", version: 7 });
    expect(JSON.parse(fs.readFileSync(path.join(h.dir, "disk/mnt/persist/etc/nixos/runtime-info.json"), "utf8")).hostName).toBe("web-1");
    // records hold argv and env of every tool call; the lab dir holds the disk
    expect(filesContaining(h.dir, CANARY)).toEqual([]);
  });

  it("reboots into the initrd, refuses a wrong passphrase and unlocks with the right one", async () => {
    const initrdKey = pub(path.join(h.dir, "disk/mnt/persist/etc/secrets/initrd/ssh_host_ed25519_key.pub"));
    ssh(h, installerKey, "reboot");
    await waitForRole(h, "initrd");
    upload(h, initrdKey, "unlock", h.unlockPort);
    expect(ssh(h, initrdKey, "test -e /etc/initrd-release && echo initrd", undefined, h.unlockPort).stdout).toBe("initrd\n");
    const wrong = ssh(h, initrdKey, "/tmp/unlock --timeout 5", "not-the-passphrase\n", h.unlockPort);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/^error: wrong passphrase for pool rpool/m);
    expect(labRole(h)).toBe("initrd");
    const right = ssh(h, initrdKey, "/tmp/unlock --timeout 5", `${CANARY}\n`, h.unlockPort);
    expect(right.stderr).toMatch(/key of rpool loaded/);
    expect(right.status).toBe(0);
    await waitForRole(h, "installed");
    const hostKey = pub(path.join(h.dir, "disk/mnt/persist/etc/ssh/ssh_host_ed25519_key.pub"));
    const r = ssh(h, hostKey, "test -e /etc/NIXOS && echo nixos; hostname; nixos-version; zfs get -H -o value keystatus rpool");
    expect(r.stdout).toMatch(/^nixos\nweb-1\n26\.05\.\S+ \(\w+\)\navailable\n$/);
    expect(filesContaining(h.dir, CANARY)).toEqual([]);
  });
});
