#!/usr/bin/env bash
# Phase 4, unlock: send the disk passphrase to the installed system's initrd over its
# pinned SSH server, then wait for the installed system's own pinned host key.
# Settings: see common.sh, plus NI_TARGET_SCRIPTS NI_POOL NI_PASSPHRASE_KIND/NI_PASSPHRASE_REF.
PHASE=unlock
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
: "${NI_TARGET_SCRIPTS:?} ${NI_POOL:?}"

unlock() {
  local passphrase rc=0
  passphrase=$(read_passphrase) || exit 1
  # The chain ships its own unlock script, so the one that runs is the one tested.
  send_file initrd /run/cdktf-nixos-installer/unlock "the unlock script" <"$NI_TARGET_SCRIPTS/unlock"
  printf '%s\n' "$passphrase" | ssh_run_job initrd "bash /run/cdktf-nixos-installer/unlock --pool $NI_POOL" || rc=$?
  passphrase=""
  [ "$rc" = 0 ] || die_remote "$rc" initrd "unlocking the pool" \
    "the initrd did not accept the disk passphrase from the $NI_PASSPHRASE_KIND source '$NI_PASSPHRASE_REF'" \
    "the host waits in its initrd: fix the passphrase source, then run terraform apply again"
  ssh_close initrd
  log "pool unlocked; the installed system is booting"
}

main() {
  local now
  now=$(current_role)
  case "$now" in
    installed)
      log "the installed system is already up (unlocked); nothing to unlock"
      return 0 ;;
    base | installer)
      die "$NI_HOST answers as its $now, not the installed system's initrd" \
        "run: $(replace_hint install)" ;;
    down) wait_for_role initrd "the installed system's initrd (SSH for unlocking)" ;;
    initrd) ;;
    *) stop_on_unknown_key "$now" ;;
  esac
  confirm_role initrd
  unlock
  wait_for_role installed "the installed system's SSH server"
}

main "$@"
