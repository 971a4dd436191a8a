#!/usr/bin/env bash
# enter-role.sh DIR ROLE: runs as the first process (pid 1) of a new
# mount+pid+uts namespace (started by the supervisor through unshare). Builds the
# simulated host's root: an overlay of / with a tmpfs upper, a fresh /dev without any
# block device, fresh /proc, /run, /tmp, a fake /sys, recorders over the destructive
# tools; then pivots into it, drops the dangerous capabilities and execs sshd.
# All mounts live and die with this namespace: nothing is mounted on the host.
set -euo pipefail

dir=$1
role=$2
roledir="$dir/roles/$role"
# shellcheck source=/dev/null
. "$roledir/config.env"

ns="$dir/ns/$role"
mkdir -p "$ns"
mount -t tmpfs -o mode=755,size=512m "lab-$role" "$ns"
mkdir -p "$ns/upper" "$ns/work" "$ns/root"
mount -t overlay "lab-$role" -o "lowerdir=/,upperdir=$ns/upper,workdir=$ns/work,nodev" "$ns/root"
m="$ns/root"

# Host directories that the simulated host has no business reading or writing.
for hide in work root home tmp mnt srv media opt/lab-none; do
  [[ -d "$m/$hide" ]] || continue
  mount -t tmpfs -o mode=755,size=256m "lab-$hide" "$m/$hide"
done
chmod 1777 "$m/tmp"
chmod 700 "$m/root"

# /dev: tmpfs (nodev) with bind mounts of the harmless character devices only.
mount -t tmpfs -o nosuid,nodev,mode=755,size=16m lab-dev "$m/dev"
for n in null zero full random urandom tty; do
  : >"$m/dev/$n"
  mount --bind "/dev/$n" "$m/dev/$n"
done
mkdir -p "$m/dev/pts" "$m/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 lab-devpts "$m/dev/pts"
ln -s pts/ptmx "$m/dev/ptmx"
mount -t tmpfs -o nosuid,nodev,mode=1777 lab-shm "$m/dev/shm"
ln -s /proc/self/fd "$m/dev/fd"
ln -s /proc/self/fd/0 "$m/dev/stdin"
ln -s /proc/self/fd/1 "$m/dev/stdout"
ln -s /proc/self/fd/2 "$m/dev/stderr"
"$LAB_NODE" "$LAB_CODE/lib/common.js" mkdev "$LAB_PROFILE" "$dir/disk/state.json" "$m/dev" "$role"

# /proc of the new pid namespace, with the profile's meminfo and the knobs masked.
mount -t proc -o nosuid,nodev,noexec lab-proc "$m/proc"
mount --bind "$roledir/meminfo" "$m/proc/meminfo"
for masked in sysrq-trigger kcore; do
  [[ ! -e "$m/proc/$masked" ]] || mount --bind /dev/null "$m/proc/$masked"
done
mount --bind "$m/proc/sys" "$m/proc/sys"
mount -o remount,bind,ro "$m/proc/sys"

# /sys: a fake tree, only what write-runtime-info looks at: the boot mode and what each
# network interface is (class/net, from the profile; writable, so a test can add an
# interface its shimmed `ip` shows).
mount -t tmpfs -o nosuid,nodev,noexec,size=1m lab-sys "$m/sys"
if [[ "$LAB_BOOT_MODE" == uefi ]]; then mkdir -p "$m/sys/firmware/efi/efivars"; fi
mkdir -p "$m/sys/class/net"
mount -t tmpfs -o nosuid,nodev,noexec,size=1m lab-sys-net "$m/sys/class/net"
"$LAB_NODE" "$LAB_CODE/lib/common.js" mknet "$LAB_PROFILE" "$m/sys/class/net"
mount -o remount,ro "$m/sys"

mount -t tmpfs -o nosuid,nodev,mode=755,size=64m lab-run "$m/run"
mkdir -p "$m/run/sshd"
# sshd's host key, where this boot may change it (an activation that gives sshd another
# key, lab/target/lib/nixos-system.js); the role's own stays read-only in /.lab/role
install -d -m 700 "$m/run/lab-sshd"
install -m 600 "$roledir/ssh_host_ed25519_key" "$m/run/lab-sshd/ssh_host_ed25519_key"

# The lab's own state, reachable by the recorders at /.lab.
mkdir -p "$m/.lab"/{records,control,disk,code,role,profile}
mount --bind "$dir/records" "$m/.lab/records"
mount --bind "$dir/control" "$m/.lab/control"
mount --bind "$dir/disk" "$m/.lab/disk"
for ro in "$LAB_CODE:code" "$roledir:role" "$LAB_PROFILE:profile"; do
  mount --bind "${ro%%:*}" "$m/.lab/${ro##*:}"
  mount -o remount,bind,ro "$m/.lab/${ro##*:}"
done

# What the disk holds, where the role sees it.
case "$role" in
  installer)
    mount --bind "$dir/disk/mnt" "$m/mnt"
    ;;
  installed)
    mkdir -p "$m/persist" "$m/etc/nixos"
    mount --bind "$dir/disk/mnt/persist" "$m/persist"
    # the installed system's /etc/nixos links to the flake on /persist
    mount --bind "$dir/disk/mnt/persist/etc/nixos" "$m/etc/nixos"
    # the installed /nix (store and system profile, as nixos-install left them): the
    # generations of nixos-system.js outlive a reboot
    mkdir -p "$dir/disk/mnt/nix" "$m/nix"
    mount --bind "$dir/disk/mnt/nix" "$m/nix"
    ;;
esac

# Recorders over the destructive and hardware tools (rm first: some are symlinks to
# systemctl). /usr/local/sbin comes first in sshd's PATH.
write_wrapper() {
  local t=$1 d
  for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin /usr/lib/systemd /lib/systemd; do
    [[ -d "$m$d" && ! -L "$m$d" ]] || continue
    if [[ "$d" == /usr/local/sbin || -e "$m$d/$t" || -L "$m$d/$t" ]]; then
      rm -f "$m$d/$t"
      printf '#!/bin/sh\nexec %s /.lab/code/lib/recorder.js %s "$@"\n' "$LAB_NODE" "$t" >"$m$d/$t"
      chmod 755 "$m$d/$t"
    fi
  done
}
tools="kexec reboot poweroff halt shutdown systemctl sgdisk wipefs mkfs.vfat mkfs.fat partprobe zpool zfs
  mount umount nixos-install udevadm systemd-reply-password ip lsblk blkid dmesg"
[[ "$role" == base ]] || tools="$tools nixos-version"
# the generations of the installed system (nixos-system.js)
[[ "$role" != installed ]] || tools="$tools nixos-rebuild nix-env systemd-run"
for t in $tools; do write_wrapper "$t"; done
# What the profile's base system does not have (profile.json baseLacks, e.g. kexec on Debian 13).
if [[ "$role" == base ]]; then
  for t in $("$LAB_NODE" -e 'process.stdout.write((require(process.argv[1]).baseLacks || []).join(" "))' "$LAB_PROFILE/profile.json"); do
    for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
      if [[ -d "$m$d" && ! -L "$m$d" ]]; then rm -f "$m$d/$t"; fi
    done
  done
fi
# uname -m answers the profile's architecture; everything else the real uname.
mkdir -p "$m/.lab-real"
cp /usr/bin/uname "$m/.lab-real/uname"
rm -f "$m/usr/bin/uname"
printf '#!/bin/sh\nif [ "$*" = "-m" ]; then cat /.lab/role/uname; else exec /.lab-real/uname "$@"; fi\n' >"$m/usr/bin/uname"
chmod 755 "$m/usr/bin/uname"

# /etc of the role: markers, keys, names.
rm -f "$m/etc/initrd-release" "$m/etc/NIXOS"
rm -rf "$m/etc/cdktf-nixos-installer"
mkdir -p "$m/etc/ssh/authorized_keys.d"
cp "$roledir/authorized_keys" "$m/etc/ssh/authorized_keys.d/root"
cp "$LAB_PROFILE/resolv.conf" "$m/etc/resolv.conf"
if [[ -f "$LAB_PROFILE/resolved-resolv.conf" && "$role" == base ]]; then
  mkdir -p "$m/run/systemd/resolve"
  cp "$LAB_PROFILE/resolved-resolv.conf" "$m/run/systemd/resolve/resolv.conf"
fi
sed -i 's/^root:[^:]*:/root:*:/' "$m/etc/shadow"
hostname "$LAB_UTS_NAME"
printf '%s\n' "$LAB_UTS_NAME" >"$m/etc/hostname"
case "$role" in
  installer)
    mkdir -p "$m/etc/cdktf-nixos-installer"
    : >"$m/etc/cdktf-nixos-installer/installer"
    : >"$m/etc/NIXOS"
    cp "$dir/control/installer/runtime-info.json" "$m/etc/cdktf-nixos-installer/runtime-info.json"
    # The sources a real installer carries (nix/lib/installer-sources.nix; the upstream
    # test proves the module writes this file for these stand-ins), each a stand-in
    # directory in the store of the overlay.
    cp "$LAB_CODE/installer-sources.json" "$m/etc/cdktf-nixos-installer/sources.json"
    for src in $(jq -r '.sources[].locked.path' "$LAB_CODE/installer-sources.json"); do
      mkdir -p "$m$src"
      printf '{ outputs = _: { }; } # lab stand-in for %s\n' "$src" >"$m$src/flake.nix"
    done
    ;;
  initrd)
    printf 'NAME="NixOS"\nID=nixos\nVERSION_ID="26.05"\nPRETTY_NAME="NixOS 26.05 (Initrd)"\n' >"$m/etc/initrd-release"
    mkdir -p "$m/run/systemd/ask-password"
    "$LAB_NODE" -e 'process.stdout.write(require(process.argv[1]).askFile("1a2b3c4d"))' "$LAB_CODE/lib/ask-file.js" \
      >"$m/run/systemd/ask-password/ask.1a2b3c4d"
    ;;
  installed)
    : >"$m/etc/NIXOS"
    printf 'NAME=NixOS\nID=nixos\nVERSION_ID="26.05"\nPRETTY_NAME="NixOS 26.05 (Yarara)"\n' >"$m/etc/os-release.lab"
    # The boot loader starts the system profile's generation: its root keys and
    # /run/current-system (the links point into /nix/store, resolved in the new root).
    if generation=$(readlink "$m/nix/var/nix/profiles/system"); then
      toplevel=$(readlink "$m/nix/var/nix/profiles/$generation")
      ln -s "$toplevel" "$m/run/current-system"
      cp "$m$toplevel/etc/ssh/authorized_keys.d/root" "$m/etc/ssh/authorized_keys.d/root"
    fi
    ;;
esac

# Into the new root; the host's root is unmounted from this namespace.
mkdir -p "$m/.oldroot"
cd "$m"
pivot_root . .oldroot
cd /
# the recorders sit over umount in the new root: use the host's binary
/.oldroot/usr/bin/umount -l /.oldroot
rmdir /.oldroot

# No mounting, no device nodes, no reboot(2)/kexec, no modules, no raw I/O, no
# network or clock changes: a script bug inside cannot reach the machine.
exec setpriv --bounding-set -sys_admin,-mknod,-sys_boot,-sys_module,-sys_rawio,-net_admin,-sys_time,-sys_ptrace,-syslog,-mac_admin,-mac_override,-sys_pacct,-audit_control,-linux_immutable,-wake_alarm,-block_suspend,-bpf,-perfmon,-checkpoint_restore \
  /usr/sbin/sshd -D -e -f /.lab/role/sshd_config
