#!/usr/bin/env bash
# Phase 4, unlock: send the disk passphrase to the installed system's initrd over its
# pinned SSH server, then wait for the installed system's own pinned host key.
# Settings: see common.sh, plus NI_TARGET_SCRIPTS NI_POOL NI_PASSPHRASE_KIND/NI_PASSPHRASE_REF.
PHASE=unlock
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
: "${NI_TARGET_SCRIPTS:?} ${NI_POOL:?}"

# initrd_left: after the session was lost (ssh 255), did the initrd go on to the installed
# system? Its SSH server ends at switch-root, which can cut the session before unlock has
# reported (a loaded host, a fast key load), so the loss alone says nothing. The keys
# tell: the initrd's key gone (installed, or nothing between two systems) means it went
# on; the initrd still answering after 15 s means the session was lost
# and the pool still waits. Bounded by the phase deadline.
initrd_left() {
  local until=$((SECONDS + 15)) now
  while :; do
    now=$(current_role)
    case "$now" in
      installed | down) return 0 ;;
      initrd) ;;
      *) stop_on_unknown_key "$now" ;;
    esac
    set_left
    [ "$SECONDS" -lt "$until" ] && [ "$LEFT" -gt 1 ] || return 1
    pause 1
  done
}

unlock() {
  local passphrase rc=0
  passphrase=$(read_passphrase) || exit 1
  # The chain ships its own unlock script, so the one that runs is the one tested.
  send_file initrd /run/cdktf-nixos-installer/unlock "the unlock script" <"$NI_TARGET_SCRIPTS/unlock"
  printf '%s\n' "$passphrase" | ssh_run_job initrd "bash /run/cdktf-nixos-installer/unlock --pool $NI_POOL" || rc=$?
  passphrase=""
  if [ "$rc" = 255 ] && initrd_left; then
    ssh_close initrd
    log "the initrd's SSH server went away after the passphrase was sent: the pool is unlocked and the installed system is booting"
    return 0
  fi
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
