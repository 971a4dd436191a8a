#!/usr/bin/env bash
# Phase 1, probe: pin the first-contact host key, learn the machine's facts
# (runtime-info v1) and refuse early what the install could not do.
# Settings: see common.sh, plus NI_TARGET_SCRIPTS NI_SYSTEM NI_DISKS NI_WIPE NI_HOSTER_ARGS.
PHASE=probe
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
: "${NI_TARGET_SCRIPTS:?} ${NI_SYSTEM:?} ${NI_WIPE:?}"

REMOTE_DIR=/root/cdktf-nixos-installer

pin_first_contact() {
  if [ -n "$NI_FIRST_HOST_KEY" ]; then
    pin base "$NI_FIRST_HOST_KEY"
  elif pinned base >/dev/null; then
    log "using the base host key pinned on first use: $(fingerprint "$(pinned base)")"
  elif [ "$NI_TRUST_ON_FIRST_USE" = true ]; then
    local key=""
    while [ -z "$key" ]; do
      key=$(offered_key "$NI_PORT")
      [ -n "$key" ] && break
      [ "$(remaining)" -gt 0 ] || die "timed out after $NI_TIMEOUT s waiting for an SSH server on $NI_HOST:$NI_PORT" \
        "check that the host is up and the port is open; then run terraform apply again"
      sleep 2
    done
    pin base "$key"
    log "WARNING: trusting the base host key on first use: $(fingerprint "$key") (compare it with the host's console)"
  else
    die "no first-contact host key for $NI_HOST" "set hostKey, or trustOnFirstUse: true to accept the key the host offers"
  fi
}

collect_facts() {
  local args=(--hostname "$NI_HOST_NAME" --check-disks "$NI_WIPE" --out "$REMOTE_DIR/runtime-info.json") d
  for d in ${NI_DISKS:-}; do args+=(--disk "$d"); done
  # NI_HOSTER_ARGS holds validated words only (no spaces inside values): split on purpose.
  # shellcheck disable=SC2206
  args+=(${NI_HOSTER_ARGS:-})
  send_file base "$REMOTE_DIR/write-runtime-info" write-runtime-info <"$NI_TARGET_SCRIPTS/write-runtime-info"
  ssh_run base "sh $REMOTE_DIR/write-runtime-info $(printf '%q ' "${args[@]}")" ||
    die_remote $? base "running write-runtime-info" "write-runtime-info refused the host (its message is above)" "fix what it names, then run terraform apply again"
  fetch_file base "$REMOTE_DIR/runtime-info.json" "$HOST_DIR/runtime-info.json"
}

check_system() {
  local system
  system=$(sed -n 's/^ *"system": *"\([^"]*\)".*/\1/p' "$HOST_DIR/runtime-info.json")
  [ "$system" = "$NI_SYSTEM" ] || die "$NI_HOST is $system but the kexec bundle is built for $NI_SYSTEM" \
    "use a bundle for $system (KexecBundle system: \"$system\")"
  log "facts: $system, $(sed -n 's/^ *"bootMode": *"\([^"]*\)".*/\1/p' "$HOST_DIR/runtime-info.json") boot, $(sed -n 's/^ *"memoryMiB": *\([0-9]*\).*/\1/p' "$HOST_DIR/runtime-info.json") MiB RAM; written to $HOST_DIR/runtime-info.json"
}

main() {
  local now
  now=$(current_role)
  case "$now" in
    installer | initrd | installed)
      log "the host is already past its base system (it answers as $now); nothing to probe"
      return 0 ;;
  esac
  pin_first_contact
  wait_for_role base "the base system's SSH server"
  confirm_role base
  collect_facts
  check_system
}

main "$@"
