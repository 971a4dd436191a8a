# The whole chain in VMs (needs Nix and KVM; see docs/nix.md):
#
#   deployer ──ssh──▶ base (a NixOS VM playing "any Linux", empty 8 GiB disk)
#     write-runtime-info, run-installer        → kexec into the installer
#     pin installer key, do-install (passphrase on stdin) → encrypted ZFS
#   reboot from the disk (GRUB, BIOS) into the systemd initrd
#     ssh -p 2222 with the pinned initrd key: unlock < passphrase
#   the installed system answers on port 22 with its pinned host key
#
# The VMs have no internet: the flake inputs (this flake, nixpkgs, disko,
# impermanence) and the installed system's closure are put into the installer
# image's store, so `nixos-install --flake` finds everything locally.
{ pkgs, mkHost, kexec, flake }:
let
  passphrase = "correct horse battery staple";
  snakeoil = import (pkgs.path + "/nixos/tests/ssh-keys.nix") pkgs;
  base = "192.168.1.2";

  # the runtime-info write-runtime-info produces on `base` (checked in the test)
  runtimeInfo = {
    version = 1;
    hostName = "vmhost";
    system = "x86_64-linux";
    bootMode = "bios";
    memoryMiB = 3072;
    disks = [ { path = "/dev/vdb"; kernelName = "vdb"; sizeBytes = 8589934592; } ];
    interfaces = [ {
      name = "eth1";
      mac = "52:54:00:12:01:02";
      mtu = 1500;
      addresses = [ "${base}/24" ];
      gateways = [ ];
    } ];
    nameservers = [ ];
    hoster.kind = "generic";
  };
  installed = mkHost {
    inherit runtimeInfo;
    authorizedKeys = [ snakeoil.snakeOilPublicKey ];
    modules = [ { system.stateVersion = "26.05"; } ];
  };
in
pkgs.testers.runNixOSTest {
  name = "cdktf-nixos-installer-vm-install";

  nodes.deployer = { ... }: {
    virtualisation.vlans = [ 1 ];
    environment.systemPackages = [ pkgs.openssh pkgs.jq ];
    environment.etc."deploy/id_ed25519" = { text = snakeoil.snakeOilPrivateKey; mode = "0600"; };
    environment.etc."deploy/kexec".source = kexec;
  };

  nodes.base = { lib, ... }: {
    virtualisation.vlans = [ 1 ];
    virtualisation.memorySize = 3072;
    virtualisation.emptyDiskImages = [ 8192 ];
    virtualisation.interfaces.eth1.assignIP = true;
    networking.interfaces.eth1.macAddress = "52:54:00:12:01:02";
    networking.interfaces.eth1.ipv4.addresses = lib.mkForce [ { address = base; prefixLength = 24; } ];
    services.openssh.enable = true;
    users.users.root.openssh.authorizedKeys.keys = [ snakeoil.snakeOilPublicKey ];
    environment.systemPackages = [ pkgs.kexec-tools pkgs.cpio pkgs.gzip ];
    # bootFromInstalledDisk: after the first shutdown the empty disk (vdb) holds
    # GRUB; booting it needs qemu to prefer it over the direct kernel boot
    virtualisation.qemu.options = [ "-boot order=c" ];
    # what the installer needs offline: the flake's inputs and the host closure
    system.extraDependencies = [ installed.config.system.build.toplevel flake.outPath ];
  };

  testScript = ''
    import shlex

    SSH = "ssh -i /etc/deploy/id_ed25519 -o UserKnownHostsFile=/root/known_hosts -o StrictHostKeyChecking=yes -o ConnectTimeout=10"

    def remote(cmd, port=22, stdin=None):
        pipe = f"printf %s {shlex.quote(stdin)} | " if stdin is not None else ""
        return deployer.succeed(f"{pipe}{SSH} -p {port} root@${base} {shlex.quote(cmd)}")

    def pin(port, key):
        deployer.succeed(f"echo '[${base}]:{port} {key.strip()}' >> /root/known_hosts")

    start_all()
    base.wait_for_unit("sshd.service")
    deployer.wait_for_unit("multi-user.target")

    with subtest("base system: pinned first contact, runtime-info"):
        pin(22, base.succeed("cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f1,2"))
        deployer.succeed(f"scp -i /etc/deploy/id_ed25519 -o UserKnownHostsFile=/root/known_hosts -r /etc/deploy/kexec root@${base}:/root/kexec")
        remote("/root/kexec/write-runtime-info --hostname vmhost --disk /dev/vdb --out /root/runtime-info.json")
        info = remote("cat /root/runtime-info.json")
        assert '"hostName": "vmhost"' in info or '"hostName":"vmhost"' in info, info
        remote("cp /root/.ssh/authorized_keys /root/keys 2>/dev/null || cat /etc/ssh/authorized_keys.d/root > /root/keys")

    with subtest("kexec into the installer, pinned by the key run-installer printed"):
        out = remote("/root/kexec/run-installer --bundle /root/kexec --runtime-info /root/runtime-info.json --authorized-keys /root/keys")
        key = [l for l in out.splitlines() if l.startswith("installer-host-key: ")][0].split(": ", 1)[1]
        deployer.succeed("sed -i '/^\\[${base}\\]:22 /d' /root/known_hosts")
        pin(22, key)
        deployer.wait_until_succeeds(f"{SSH} root@${base} test -e /etc/cdktf-nixos-installer/installer", timeout=300)

    with subtest("do-install: encrypted ZFS, host keys pinned"):
        out = remote(
            "do-install --runtime-info /etc/cdktf-nixos-installer/runtime-info.json"
            " --template /etc/cdktf-nixos-installer/template --authorized-keys /etc/ssh/authorized_keys.d/root",
            stdin="${passphrase}\n",
        )
        host_key = [l for l in out.splitlines() if l.startswith("host-key: ")][0].split(": ", 1)[1]
        initrd_key = [l for l in out.splitlines() if l.startswith("initrd-host-key: ")][0].split(": ", 1)[1]
        deployer.succeed("sed -i '/^\\[${base}\\]:22 /d' /root/known_hosts")
        pin(22, host_key)
        pin(2222, initrd_key)

    with subtest("reboot from the disk, unlock over initrd SSH"):
        # base boots its own (direct-boot) system again unless the installed
        # disk comes first: the driver restarts qemu with the disk as boot
        # device (see bootFromInstalledDisk below)
        base.shutdown()
        base.start()
        deployer.wait_until_succeeds(f"{SSH} -p 2222 root@${base} test -e /etc/initrd-release", timeout=600)
        remote("unlock", port=2222, stdin="${passphrase}\n")

    with subtest("the installed system answers on its pinned host key"):
        deployer.wait_until_succeeds(f"{SSH} root@${base} test -e /etc/NIXOS", timeout=600)
        assert remote("hostname").strip() == "vmhost"
        assert remote("zfs get -H -o value encryption rpool").strip() == "aes-256-gcm"
        assert remote("zfs get -H -o value keystatus rpool").strip() == "available"
  '';
}
