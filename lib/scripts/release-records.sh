#!/usr/bin/env bash
# Destroy-time step of the probe phase: runs at `terraform destroy` and at every
# replacement of the chain (a changed pool, port, disks or hostsDir, or
# `terraform apply -replace=<probe>`), which Terraform does not tell apart here. So it
# deletes nothing: the chain's own records of the host (pins/, runtime-info.json, the
# public host keys, connection.json, install.json) move into HOST_DIR/archive/<UTC time>/, and a note in the working
# directory says where. The next probe of the host takes them back when the host still
# answers with one of the archived pins (a replacement); a new machine under the same
# name starts afresh and the archive stays. Files the chain did not write (a
# configuration.nix or authorized_keys kept for lib.mkHosts) are not touched.
#
#   release-records.sh HOST_DIR HOST_NAME
set -euo pipefail
umask 077

[ $# -eq 2 ] || { printf 'usage: release-records.sh HOST_DIR HOST_NAME\n' >&2; exit 2; }
host_dir=$1
host_name=$2
# The chain's own records in HOST_DIR (docs/contracts.md); nothing else is moved.
RECORDS=(pins runtime-info.json ssh_host_ed25519_key.pub initrd_ssh_host_ed25519_key.pub connection.json install.json)

[ -d "$host_dir" ] || exit 0
archive="$host_dir/archive/$(date -u +%Y%m%dT%H%M%SZ)"
n=1
while [ -e "$archive" ]; do archive="${archive%.*}.$n"; n=$((n + 1)); done
moved=()
for f in "${RECORDS[@]}"; do
  [ -e "$host_dir/$f" ] || continue
  mkdir -p "$archive"
  mv -- "$host_dir/$f" "$archive/$f"
  moved+=("$f")
done
[ ${#moved[@]} -gt 0 ] || exit 0
# Where the next probe finds them, whatever hostsDir it is given (the working directory
# is the stack's, for the destroy and the create of one apply alike).
mkdir -p .cdktf-nixos-installer/released
printf '%s\n' "$archive" >".cdktf-nixos-installer/released/$host_name"
printf '[%s destroy] archived %s in %s (nothing deleted: a replacement of the chain takes them back, a new machine starts afresh)\n' \
  "$host_name" "${moved[*]}" "$archive" >&2
