// VM level: the real `unlock` against a real password request. The guest plays the part
// of a NixOS systemd initrd that waits for the pool's key: a real encrypted pool whose key
// is not loaded, and the import step of nixos/modules/tasks/filesystems/zfs.nix (Debian's
// systemd-ask-password asks "Enter key for POOL:" and pipes the answer into a real
// `zfs load-key`, three tries). `unlock` runs with PATH holding only the commands the
// NixOS initrd has (nix/installer/commands.nix), so a call to sed, grep or head fails
// here as it would on a host.
import { randomBytes } from "crypto";
import * as path from "path";
import { buildVmImages, guestCommandDir, requireVmPrereqs, ROOT, serialTail, sshOk, sshRun, SshTarget, uploadDirs, vmDown, VmTarget, vmUp } from "../../lab/vm/vm-lab";

jest.setTimeout(900_000);

const NAME = "test-unlock";
const PASSPHRASE = `vm-unlock-${randomBytes(9).toString("hex")}`;
const OTHER = `vm-tank-${randomBytes(9).toString("hex")}`;
const INITRD_PATH = "/run/initrd-bin";

// The import step NixOS runs in stage 1 for a pool whose key is prompted (zfs.nix,
// createImportService): ask, pipe into zfs load-key, three tries, then give up.
const IMPORT_STAND_IN = `#!/bin/bash
pool=$1 tries=3
while [ "$tries" -gt 0 ]; do
  if systemd-ask-password --timeout=0 "Enter key for $pool:" | zfs load-key "$pool"; then
    echo loaded > "/run/import-$pool.result"; exit 0
  fi
  tries=$((tries - 1))
done
echo "gave up" > "/run/import-$pool.result"; exit 1
`;

let vm: VmTarget | undefined;
let t: SshTarget;

const unlock = (args: string, input: string) =>
  sshRun(t, `cd / && env -i PATH=${INITRD_PATH} bash /root/cdktf/installer/unlock ${args}`, { input, timeoutMs: 200_000 });
const keystatus = (pool: string) => sshOk(t, `zfs get -H -o value keystatus ${pool}`).trim();
const pendingMessages = () =>
  sshOk(t, "cat /run/systemd/ask-password/ask.* 2>/dev/null | grep '^Message=' || true").trim().split("\n").filter(Boolean).sort();

beforeAll(() => {
  requireVmPrereqs({ zfs: true });
  buildVmImages({ zfs: true });
  vm = vmUp({ name: NAME, role: "installer", zfs: true, memoryMiB: 1536 });
  t = { address: vm.address, port: vm.port, hostKey: vm.hostKey, clientKey: vm.clientKey };
  uploadDirs(t, { [path.join(ROOT, "nix", "installer")]: "/root/cdktf/installer" });
  sshOk(t, "cat > /run/zfs-import && chmod 755 /run/zfs-import", { input: IMPORT_STAND_IN });
  // two encrypted pools on file vdevs, imported with their keys not loaded, as the
  // initrd finds them after `zpool import`
  for (const [pool, secret] of [["rpool", PASSPHRASE], ["tank", OTHER]]) {
    // (the fewest PBKDF2 rounds ZFS allows: a key derivation takes seconds under emulation)
    sshOk(t, `truncate -s 96M /run/${pool}.img && zpool create -O encryption=aes-256-gcm -O keyformat=passphrase -O keylocation=prompt -O pbkdf2iters=100000 ${pool} /run/${pool}.img`, { input: secret });
    sshOk(t, `zpool export ${pool} && zpool import -d /run ${pool}`);
  }
});

afterAll(() => {
  if (vm) vmDown(NAME);
});

describe("unlock in an initrd with a real password request and a real zfs load-key", () => {
  test("runs with PATH holding only the commands of the NixOS initrd", () => {
    const { missing } = guestCommandDir(t, "initrd", INITRD_PATH, ["/root/cdktf/installer"]);
    if (missing.length > 0) console.log(`vm: initrd commands the lab guest lacks (left off PATH): ${missing.join(" ")}`);
    const onPath = sshOk(t, `ls ${INITRD_PATH}`).split("\n");
    expect(onPath).toEqual(expect.arrayContaining(["bash", "cat", "sleep", "zfs", "systemd-reply-password", "unlock"]));
    // what the initrd does not have is not there either
    for (const absent of ["sed", "grep", "jq"]) expect(onPath).not.toContain(absent);
    expect(keystatus("rpool")).toBe("unavailable");
    expect(keystatus("tank")).toBe("unavailable");
  });

  test("leaves another pool's request alone and says what it waited for", () => {
    sshOk(t, `setsid /run/zfs-import tank </dev/null >/run/import-tank.log 2>&1 &`);
    sshOk(t, "for i in $(seq 50); do ls /run/systemd/ask-password/ask.* >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1");
    const r = unlock("--pool rpool --timeout 3", `${PASSPHRASE}\n`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: no request for the key of rpool appeared in \/run\/systemd\/ask-password within 3s; .*reboot the host, then run the unlock phase again$/m);
    // tank's request is still pending and unanswered
    expect(pendingMessages()).toEqual(["Message=Enter key for tank:"]);
    expect(keystatus("tank")).toBe("unavailable");
  });

  test("a wrong passphrase is refused, the initrd asks again and the key stays unavailable", () => {
    sshOk(t, `setsid /run/zfs-import rpool </dev/null >/run/import-rpool.log 2>&1 &`);
    sshOk(t, "for i in $(seq 50); do grep -q 'Enter key for rpool:' /run/systemd/ask-password/ask.* 2>/dev/null && exit 0; sleep 0.1; done; exit 1");
    const r = unlock("--pool rpool --timeout 120", "not-the-passphrase\n");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^unlock: answering \/run\/systemd\/ask-password\/ask\.\S+$/m);
    expect(r.stderr).toMatch(/^error: wrong passphrase for pool rpool \(the initrd asks again\); run the unlock phase again with the right passphrase$/m);
    expect(keystatus("rpool")).toBe("unavailable");
    expect(pendingMessages()).toEqual(["Message=Enter key for rpool:", "Message=Enter key for tank:"]);
  });

  test("the right passphrase loads the key through zfs load-key; tank is still waiting", () => {
    const r = unlock("--pool rpool --timeout 120", `${PASSPHRASE}\n`);
    if (r.code !== 0) throw new Error(`unlock exited ${r.code}: ${r.stderr}\n${sshOk(t, "cat /run/import-rpool.log")}\n${serialTail(vm!)}`);
    expect(r.stderr).toMatch(/^unlock: key of rpool loaded$/m);
    expect(keystatus("rpool")).toBe("available");
    expect(sshOk(t, "cat /run/import-rpool.result").trim()).toBe("loaded");
    expect(pendingMessages()).toEqual(["Message=Enter key for tank:"]);
    expect(keystatus("tank")).toBe("unavailable");
    // a second run finds the key loaded and changes nothing
    const again = unlock("--pool rpool --timeout 3", `${PASSPHRASE}\n`);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/^unlock: key of rpool is already loaded$/m);
  });
});
