#!/usr/bin/env bash
# Phase 5, verify: prove over the installed system's pinned host key that NixOS came
# up as promised (hostname, encrypted and unlocked pool), and write hosts/NAME/.
# Settings: see common.sh, plus NI_POOL and, with a user's flake, NI_RUNTIME_INFO_PATH.
PHASE=verify
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
: "${NI_POOL:?}"

# Runs on the host: single quotes keep it from expanding here.
# shellcheck disable=SC2016
FACTS_SCRIPT='
printf "hostname=%s\n" "$(cat /proc/sys/kernel/hostname)"
printf "nixos=%s\n" "$(nixos-version 2>/dev/null || echo unknown)"
printf "encryption=%s\n" "$(zfs get -H -o value encryption POOL 2>/dev/null || echo unknown)"
printf "keystatus=%s\n" "$(zfs get -H -o value keystatus POOL 2>/dev/null || echo unknown)"
printf "pools=%s\n" "$(zpool list -H -o name 2>/dev/null | tr "\n" " ")"
ip -o addr 2>/dev/null | awk "\$4 !~ /^(127\\.|::1|fe80)/ {print \"address=\" \$2 \" \" \$4}"
'

fact() { printf '%s\n' "$FACTS" | sed -n "s/^$1=//p"; }

main() {
  local now
  now=$(current_role)
  case "$now" in
    installed) ;;
    down) wait_for_role installed "the installed system's SSH server" ;;
    initrd) die "$NI_HOST waits in its initrd for the disk passphrase" "run: $(replace_hint unlock)" ;;
    base | installer) die "$NI_HOST answers as its $now, not the installed system" "run: $(replace_hint install)" ;;
    *) stop_on_unknown_key "$now" ;;
  esac
  confirm_role installed
  FACTS=$(ssh_run installed "${FACTS_SCRIPT//POOL/$NI_POOL}") || die_remote $? installed "reading the installed system's facts" "could not read the installed system's facts"
  [ "$(fact hostname)" = "$NI_HOST_NAME" ] ||
    die "the installed system calls itself '$(fact hostname)', expected '$NI_HOST_NAME'" "check /etc/nixos/${NI_RUNTIME_INFO_PATH:-runtime-info.json} on the host"
  # A changed `pool` replaces the chain, which finds the host installed and skips to here:
  # only a reinstall could rename the pool, and the chain does not reinstall by surprise.
  case " $(fact pools)" in
    *" $NI_POOL "*) ;;
    *) die "the installed system has no pool $NI_POOL (its pools: $(fact pools)); \`pool\` was changed after the install, which only a reinstall could apply" \
      "set pool back to the installed pool's name; nothing on the host was changed" ;;
  esac
  case "$(fact encryption)" in
    aes-*) ;;
    *) die "pool $NI_POOL reports encryption '$(fact encryption)', expected aes-256-gcm" "the disk is not encrypted as promised; inspect the host" ;;
  esac
  [ "$(fact keystatus)" = available ] ||
    die "pool $NI_POOL reports keystatus '$(fact keystatus)' on a booted system" "inspect the host"
  # where do-install placed it: beside the template's flake.nix, or in the user's flake
  # at NI_RUNTIME_INFO_PATH (HostConfiguration.fromFlake)
  fetch_file installed "/etc/nixos/${NI_RUNTIME_INFO_PATH:-runtime-info.json}" "$HOST_DIR/runtime-info.json"
  pinned installed >"$HOST_DIR/ssh_host_ed25519_key.pub"
  pinned initrd >"$HOST_DIR/initrd_ssh_host_ed25519_key.pub"
  chmod 0644 "$HOST_DIR"/*.pub "$HOST_DIR/runtime-info.json"
  log "verified: $(fact nixos), hostname $(fact hostname), pool $NI_POOL $(fact encryption) (key $(fact keystatus))"
  printf '%s\n' "$FACTS" | sed -n 's/^address=/  address: /p' | while IFS= read -r line; do log "$line"; done
  log "host key $(fingerprint "$(pinned installed)"); wrote $HOST_DIR/"
}

main "$@"
