# The commands each target-side script may call where it really runs, and what puts
# each of them there. One list for two readers:
#  - the NixOS modules take what this project adds from it (the installer's
#    `runtimeInputs`, the initrd's `extraBin`), so the image holds what the list says;
#  - the tests run every script with PATH holding only these commands
#    (__tests__/vm/unlock.test.ts, __tests__/vm/do-install.test.ts,
#    __tests__/nix/installer-network.test.ts), so a script that calls anything
#    else fails here, not on a host.
# A list may name fewer commands than the environment has (the test is then only
# stricter), never one it lacks. nixpkgs files are cited from NixOS/nixpkgs master
# (June 2026).
#
#   nix-instantiate --eval --strict --json -E \
#     'map (c: c.names) (import ./nix/installer/commands.nix).initrd.commands'
let
  # GNU coreutils 9: every program of the package
  coreutils = [
    "[" "arch" "b2sum" "base32" "base64" "basename" "basenc" "cat" "chcon" "chgrp"
    "chmod" "chown" "chroot" "cksum" "comm" "cp" "csplit" "cut" "date" "dd" "df" "dir"
    "dircolors" "dirname" "du" "echo" "env" "expand" "expr" "factor" "false" "fmt" "fold"
    "groups" "head" "hostid" "id" "install" "join" "link" "ln" "logname" "ls" "md5sum"
    "mkdir" "mkfifo" "mknod" "mktemp" "mv" "nice" "nl" "nohup" "nproc" "numfmt" "od"
    "paste" "pathchk" "pinky" "pr" "printenv" "printf" "ptx" "pwd" "readlink" "realpath"
    "rm" "rmdir" "runcon" "seq" "sha1sum" "sha224sum" "sha256sum" "sha384sum" "sha512sum"
    "shred" "shuf" "sleep" "sort" "split" "stat" "stdbuf" "stty" "sum" "sync" "tac" "tail"
    "tee" "test" "timeout" "touch" "tr" "true" "truncate" "tsort" "tty" "uname" "unexpand"
    "uniq" "unlink" "users" "vdir" "wc" "who" "whoami" "yes"
  ];
in
{
  # NixOS systemd stage 1 of the installed host (nixosModules.host), where `unlock` runs
  # in the initrd's SSH session. sshd gives that session its compiled-in PATH
  # (/usr/bin:/bin:/usr/sbin:/sbin), i.e. the initrd's /bin and /sbin, which
  # initrd.nix builds from `initrdBin` and `extraBin`.
  initrd = {
    scripts = [ "unlock" ];
    commands = [
      {
        names = [ "bash" "sh" ];
        from = "nixos/modules/system/boot/systemd/initrd.nix: boot.initrd.systemd.initrdBin (bashInteractive)";
      }
      {
        names = coreutils;
        from = "nixos/modules/system/boot/systemd/initrd.nix: boot.initrd.systemd.initrdBin (coreutils)";
      }
      {
        names = [ "systemctl" "systemd-ask-password" "systemd-tty-ask-password-agent" "journalctl" ];
        from = "nixos/modules/system/boot/systemd/initrd.nix: boot.initrd.systemd.initrdBin (the systemd package's bin/)";
      }
      {
        names = [ "mount" "umount" ];
        from = "nixos/modules/system/boot/systemd/initrd.nix: boot.initrd.systemd.extraBin (util-linux)";
      }
      {
        names = [ "zpool" "zfs" "awk" ];
        from = "nixos/modules/tasks/filesystems/zfs.nix: boot.initrd.systemd.extraBin";
      }
      {
        names = [ "unlock" "systemd-reply-password" ];
        from = "nix/modules/initrd-unlock.nix: boot.initrd.systemd.extraBin (this project)";
        # systemd-reply-password lives in lib/systemd/, outside the initrd's /bin
        extraBin = { config, unlock, ... }: {
          unlock = "${unlock}/bin/unlock";
          systemd-reply-password = "${config.boot.initrd.systemd.package}/lib/systemd/systemd-reply-password";
        };
      }
    ];
  };

  # The kexec installer (nixosModules.installer). Its scripts are writeShellApplications
  # whose runtimeInputs are exactly the packages below, so they need nothing from the
  # image's system PATH.
  installer = {
    scripts = [ "do-install" "write-networkd-units" ];
    commands = [
      {
        names = [ "bash" ];
        from = "nixpkgs pkgs/build-support/trivial-builders: writeShellApplication (runtimeShell)";
      }
      {
        names = coreutils;
        from = "nix/modules/installer-image/default.nix: runtimeInputs (coreutils)";
        package = { pkgs, ... }: pkgs.coreutils;
      }
      {
        names = [ "mount" "umount" "lsblk" "blkid" "wipefs" "findmnt" "flock" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (util-linux)";
        package = { pkgs, ... }: pkgs.util-linux;
      }
      {
        names = [ "sed" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (gnused)";
        package = { pkgs, ... }: pkgs.gnused;
      }
      {
        names = [ "grep" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (gnugrep)";
        package = { pkgs, ... }: pkgs.gnugrep;
      }
      {
        names = [ "awk" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (gawk)";
        package = { pkgs, ... }: pkgs.gawk;
      }
      {
        names = [ "find" "xargs" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (findutils)";
        package = { pkgs, ... }: pkgs.findutils;
      }
      {
        names = [ "sgdisk" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (gptfdisk)";
        package = { pkgs, ... }: pkgs.gptfdisk;
      }
      {
        names = [ "mkfs.vfat" "mkfs.fat" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (dosfstools)";
        package = { pkgs, ... }: pkgs.dosfstools;
      }
      {
        names = [ "zpool" "zfs" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (boot.zfs.package)";
        package = { config, ... }: config.boot.zfs.package;
      }
      {
        # do-install stops md arrays that stand on a disk it must wipe (stdenv's
        # move-sbin hook puts mdadm's sbin/ into bin/)
        names = [ "mdadm" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (mdadm)";
        package = { pkgs, ... }: pkgs.mdadm;
      }
      {
        # and removes LVM/LUKS device-mapper nodes; lvm2 installs its tools in its
        # `bin` output, which writeShellApplication's PATH (lib.getBin) takes
        names = [ "dmsetup" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (lvm2, bin output)";
        package = { pkgs, ... }: pkgs.lvm2;
      }
      {
        names = [ "ssh-keygen" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (openssh)";
        package = { pkgs, ... }: pkgs.openssh;
      }
      {
        names = [ "jq" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (jq)";
        package = { pkgs, ... }: pkgs.jq;
      }
      {
        names = [ "udevadm" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (systemd)";
        package = { config, ... }: config.systemd.package;
      }
      {
        names = [ "nixos-install" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (system.build.nixos-install)";
        package = { config, ... }: config.system.build.nixos-install;
      }
      {
        names = [ "nix-instantiate" ];
        from = "nix/modules/installer-image/default.nix: runtimeInputs (nix.package)";
        package = { config, ... }: config.nix.package;
      }
    ];
  };
}
