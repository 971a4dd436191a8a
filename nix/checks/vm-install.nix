# The whole chain in VMs (needs Nix and KVM; see docs/nix.md), shaped like nixpkgs' own
# installer tests (nixos/tests/installer.nix): install onto the disk of one VM, shut it
# down, then boot a new machine from that disk alone.
#
#   deployer ──ssh──▶ base (a NixOS VM playing "any Linux"; its root disk is the target)
#     write-runtime-info, run-installer            → kexec into the installer (in RAM)
#     pin the installer key, do-install (passphrase on stdin) → encrypted ZFS on /dev/vda
#   shut base down; boot a new machine from its disk (GRUB, BIOS) into the systemd initrd
#     ssh -p 2222 with the pinned initrd key: unlock < passphrase
#   the installed system answers on port 22 with its pinned host key
#
# What the VMs have without a network:
#  - base's address is the one the test driver gives it (nodes sort by name: base is
#    node 1, 192.168.1.1) and its NIC's MAC is the driver's (qemu-common.nix qemuNicMac:
#    52:54:00:12:<vlan>:<node>), the same after kexec and on the boot-after-install
#    machine, which is started with that NIC again;
#  - the installer image of this test carries the installed system's closure, and (as
#    every installer) the sources of this flake and its inputs, to which do-install
#    locks the packaged template (flake.lock), so `nixos-install --flake` builds nothing
#    and fetches nothing (nixpkgs' installer tests carry the closure the same way).
{ pkgs, mkHost, mkKexec }:
let
  inherit (pkgs) lib;
  passphrase = "correct horse battery staple";
  # an ECDSA key: authorized keys of every type go through the whole chain
  snakeoil = import (pkgs.path + "/nixos/tests/ssh-keys.nix") pkgs;
  baseNode = 1;
  base = "192.168.1.${toString baseNode}";
  mac = net: node: "52:54:00:12:0${toString net}:0${toString node}";

  # what write-runtime-info finds on base (the test checks it field by field): the
  # test driver's user-mode NIC (eth0) and the vlan NIC (eth1), the root disk vda
  runtimeInfo = {
    version = 1;
    hostName = "vmhost";
    system = "x86_64-linux";
    bootMode = "bios";
    memoryMiB = 6144;
    disks = [ { path = "/dev/vda"; kernelName = "vda"; sizeBytes = 8589934592; } ];
    interfaces = [
      { name = "eth0"; mac = "52:54:00:12:34:56"; mtu = 1500; addresses = [ "10.0.2.15/24" ]; gateways = [ "10.0.2.2" ]; }
      { name = "eth1"; mac = mac 1 baseNode; mtu = 1500; addresses = [ "${base}/24" ]; gateways = [ ]; }
    ];
    nameservers = [ "10.0.2.3" ];
    hoster.kind = "generic";
  };
  installed = mkHost {
    inherit runtimeInfo;
    authorizedKeys = [ snakeoil.snakeOilPublicKey ];
    modules = [ { system.stateVersion = "26.05"; } ];
  };

  kexec = mkKexec [
    ({ lib, ... }: {
      # the installed closure; the sources come with nixosModules.installer, and
      # do-install locks the packaged template to them
      system.extraDependencies = [ installed.config.system.build.toplevel ];
      # nothing to fetch: what is not in the store is an error at once, not a timeout
      nix.settings.substituters = lib.mkForce [ ];
    })
  ];
in
pkgs.testers.runNixOSTest {
  name = "cdktf-nixos-installer-vm-install";

  nodes.deployer = {
    virtualisation.vlans = [ 1 ];
    environment.systemPackages = [ pkgs.openssh pkgs.jq ];
    # the snakeoil key is a store path: `source`, not `text`
    environment.etc."deploy/id" = { source = snakeoil.snakeOilPrivateKey; mode = "0600"; };
    environment.etc."deploy/kexec".source = kexec;
  };

  nodes.base = {
    virtualisation.vlans = [ 1 ];
    # the installer keeps the installed system's closure in RAM
    virtualisation.memorySize = 6144;
    # base's own root disk is what the chain installs onto, as on a cloud server
    virtualisation.diskSize = 8192;
    services.openssh.enable = true;
    users.users.root.openssh.authorizedKeys.keys = [ snakeoil.snakeOilPublicKey ];
    environment.systemPackages = [ pkgs.cpio pkgs.gzip ];
  };

  testScript = ''
    import json
    import os
    import shlex

    SSH = "ssh -i /etc/deploy/id -o UserKnownHostsFile=/root/known_hosts -o StrictHostKeyChecking=yes -o ConnectTimeout=10"

    def remote(cmd, port=22, stdin=None):
        pipe = f"printf %s {shlex.quote(stdin)} | " if stdin is not None else ""
        return deployer.succeed(f"{pipe}{SSH} -p {port} root@${base} {shlex.quote(cmd)}")

    def pin(port, key):
        deployer.succeed(f"sed -i '/^\\[${base}\\]:{port} /d' /root/known_hosts 2>/dev/null; echo '[${base}]:{port} {key.strip()}' >> /root/known_hosts")

    start_all()
    base.wait_for_unit("sshd.service")
    deployer.wait_for_unit("multi-user.target")

    with subtest("base system: pinned first contact, runtime-info as the installed system expects it"):
        pin(22, base.succeed("cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub"))
        deployer.succeed(f"scp -i /etc/deploy/id -o UserKnownHostsFile=/root/known_hosts -r /etc/deploy/kexec root@${base}:/root/kexec")
        remote("/root/kexec/write-runtime-info --hostname vmhost --disk /dev/vda --out /root/runtime-info.json")
        written = json.loads(remote("cat /root/runtime-info.json"))
        expected = json.loads('${builtins.toJSON runtimeInfo}')
        # the installed closure in the installer was built from `expected`: every field
        # the configuration reads must agree, or nixos-install would need to build
        for field in ["hostName", "system", "bootMode", "nameservers", "hoster"]:
            assert written[field] == expected[field], (field, written[field], expected[field])
        assert [d["path"] for d in written["disks"]] == ["/dev/vda"], written["disks"]
        strip = lambda i: {k: i[k] for k in ["name", "mac", "mtu", "addresses", "gateways"]}
        assert [strip(i) for i in written["interfaces"]] == expected["interfaces"], written["interfaces"]
        remote("cat /etc/ssh/authorized_keys.d/root /root/.ssh/authorized_keys 2>/dev/null | grep -v '^#' > /root/keys || true")

    with subtest("kexec into the installer, pinned by the key run-installer printed"):
        out = remote("/root/kexec/run-installer --bundle /root/kexec --runtime-info /root/runtime-info.json --authorized-keys /root/keys")
        key = [l for l in out.splitlines() if l.startswith("installer-host-key: ")][0].split(": ", 1)[1]
        pin(22, key)
        deployer.wait_until_succeeds(f"{SSH} root@${base} test -e /etc/cdktf-nixos-installer/installer", timeout=600)

    with subtest("do-install: encrypted ZFS on base's own disk, host keys pinned"):
        out = remote(
            "do-install --runtime-info /etc/cdktf-nixos-installer/runtime-info.json"
            " --template /etc/cdktf-nixos-installer/template --authorized-keys /etc/ssh/authorized_keys.d/root",
            stdin="${passphrase}\n",
        )
        host_key = [l for l in out.splitlines() if l.startswith("host-key: ")][0].split(": ", 1)[1]
        initrd_key = [l for l in out.splitlines() if l.startswith("initrd-host-key: ")][0].split(": ", 1)[1]
        pin(22, host_key)
        pin(2222, initrd_key)
        base.shutdown()

    with subtest("boot a new machine from the installed disk alone, unlock over initrd SSH"):
        # as nixpkgs' installer tests do: no -kernel, the disk and the same vlan NIC
        disk = os.path.join(base.state_dir, "base.qcow2")
        qemu = "${pkgs.qemu_test}/bin/qemu-kvm -cpu max -m 2048"
        nic = f"-device virtio-net-pci,netdev=vlan1,mac=${mac 1 baseNode} -netdev vde,id=vlan1,sock=\"$QEMU_VDE_SOCKET_1\""
        installed = create_machine(f"{qemu} -drive file={disk},if=virtio,werror=report {nic}", name="boot-after-install")
        installed.start()
        deployer.wait_until_succeeds(f"{SSH} -p 2222 root@${base} test -e /etc/initrd-release", timeout=900)
        remote("unlock", port=2222, stdin="${passphrase}\n")

    with subtest("the installed system answers on its pinned host key"):
        deployer.wait_until_succeeds(f"{SSH} root@${base} test -e /etc/NIXOS", timeout=900)
        assert remote("hostname").strip() == "vmhost"
        assert remote("zfs get -H -o value encryption rpool").strip() == "aes-256-gcm"
        assert remote("zfs get -H -o value keystatus rpool").strip() == "available"
        assert remote("readlink /etc/nixos").strip().endswith("/persist/etc/nixos") or remote("readlink -f /etc/nixos").strip() == "/persist/etc/nixos"
        remote("test -e /boot/grub")
  '';
}
