#!/usr/bin/env bash
# Phase 1, probe: record how the host is reached (hosts/NAME/connection.json), pin the
# first-contact host key, learn the machine's facts (runtime-info v1) and refuse early
# what the install could not do.
# Settings: see common.sh, plus NI_TARGET_SCRIPTS NI_SYSTEM NI_DISKS NI_WIPE NI_POOL NI_HOSTER_ARGS
# NI_CONFIGURATION (a user flake's content hash, compared with install.json)
# and NI_PASSPHRASE_KIND/NI_PASSPHRASE_REF (the source is tried, the passphrase not sent).
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
      set_left
      [ "$LEFT" -gt 0 ] || die "timed out after $NI_TIMEOUT s waiting for an SSH server on $NI_HOST:$NI_PORT" \
        "check that the host is up and the port is open; then run terraform apply again"
      pause 2
    done
    pin base "$key"
    log "WARNING: trusting the base host key on first use: $(fingerprint "$key") (compare it with the host's console)"
  else
    die "no first-contact host key for $NI_HOST" "set hostKey, or trustOnFirstUse: true to accept the key the host offers"
  fi
}

# After a replacement of the chain (its destroy step archived the records, see
# release-records.sh) the records of this host are in an archive: take them back when
# the host still answers with one of the keys they pinned, so the host is known, not
# taken for a man in the middle. A machine that offers none of them is a new one under
# the same name: the archive stays and the probe starts afresh.
adopt_released_records() {
  local note=".cdktf-nixos-installer/released/$NI_HOST_NAME" archive="" key port pin matched="" f
  [ ! -f "$note" ] || archive=$(cat "$note")
  if [ -z "$archive" ] || [ ! -d "$archive" ]; then
    archive=$(find "$HOST_DIR/archive" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort | tail -n 1) || archive=""
  fi
  rm -f "$note"
  [ -n "$archive" ] && [ -d "$archive/pins" ] || return 0
  # Records in place (none were archived, or they came back already) win.
  [ -z "$(find "$PIN_DIR" -mindepth 1 -maxdepth 1 2>/dev/null || true)" ] || return 0
  BACKOFF_STEP=0
  log "records of an earlier run of this chain are archived in $archive; asking $NI_HOST for its keys"
  while :; do
    for port in "$NI_PORT" "$NI_UNLOCK_PORT"; do
      key=$(offered_key "$port")
      [ -n "$key" ] || continue
      for pin in "$archive"/pins/*; do
        [ "$(cat "$pin")" = "$key" ] && matched=${pin##*/}
      done
      [ -n "$matched" ] && break 2
      log "$NI_HOST offers none of the archived keys ($(fingerprint "$key") on port $port): a new machine; the archive stays and the probe starts afresh"
      return 0
    done
    set_left
    [ "$LEFT" -gt 0 ] || die "timed out after $NI_TIMEOUT s waiting for $NI_HOST to answer on port $NI_PORT or $NI_UNLOCK_PORT" \
      "check the host's console; raise timeouts.probe if the host is slow; then run terraform apply again"
    backoff_sleep
  done
  mkdir -p "$HOST_DIR"
  for f in "$archive"/*; do
    [ -e "$HOST_DIR/${f##*/}" ] || mv -- "$f" "$HOST_DIR/"
  done
  rmdir "$archive" 2>/dev/null || true
  rmdir "$(dirname "$archive")" 2>/dev/null || true
  log "took back the records of $NI_HOST_NAME from $archive into $HOST_DIR: the host still answers with its pinned $matched key (the chain was replaced, the machine was not)"
}

collect_facts() {
  local args=(--hostname "$NI_HOST_NAME" --check-disks "$NI_WIPE" --out "$REMOTE_DIR/runtime-info.json") d
  for d in ${NI_DISKS:-}; do args+=(--disk "$d"); done
  # NI_HOSTER_ARGS holds validated words only (no spaces inside values): split on purpose.
  # shellcheck disable=SC2206
  args+=(${NI_HOSTER_ARGS:-})
  send_file base "$REMOTE_DIR/write-runtime-info" write-runtime-info <"$NI_TARGET_SCRIPTS/write-runtime-info"
  ssh_run_job base "sh $REMOTE_DIR/write-runtime-info $(printf '%q ' "${args[@]}")" ||
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

# same_disks DISKS: whether DISKS (as the prop gives them, space-separated; empty for
# the base system's disk) are the disks the host was installed on, named by id or by
# kernel name, in the same order.
same_disks() {
  local given=$1 by_id names
  by_id=$(recorded_install_setting installedDisks)
  names=$(recorded_install_setting installedDiskNames)
  [ -n "$by_id" ] || return 1
  if [ -z "$given" ]; then
    # the default: the one disk that holds the base system, which the install used alone
    [ "$(installed_disks | wc -l)" = 1 ] && grep -q '"holdsBaseSystem": true' "$HOST_DIR/runtime-info.json"
    return
  fi
  [ "$given" = "$by_id" ] || [ "$given" = "$names" ]
}

# An installed host replaced in the plan because a setting only a reinstall applies
# changed (disks, pool, wipe, system): refuse, rather than let the phases find the host
# installed and pass while the stack says something the host is not.
refuse_changed_install_settings() {
  local role=$1 name value recorded now changed=()
  if [ ! -f "$HOST_DIR/install.json" ]; then
    log "no record of the settings $NI_HOST_NAME was installed with (installed before this release): a change of disks, pool, wipe or system is not checked"
    return 0
  fi
  while read -r name value; do
    recorded=$(recorded_install_setting "$name")
    now=$(json_string "$value")
    [ "\"$recorded\"" != "$now" ] || continue
    if [ "$name" = disks ] && same_disks "$value"; then
      log "disks now names the disks $NI_HOST_NAME was installed on another way ($value): no change"
      continue
    fi
    changed+=("$name: installed with \"$recorded\", the stack now says $now")
  done < <(reinstall_settings)
  # A configuration a rebuild applies: said, not refused (a NixosRebuild of the host may
  # be applying it in this same apply).
  recorded=$(recorded_install_setting configuration)
  now=$(json_string "${NI_CONFIGURATION:-}")
  [ "\"$recorded\"" = "$now" ] ||
    log "the configuration changed since the install (installed from ${recorded:-the template}, the stack now has ${NI_CONFIGURATION:-the template}): an install applies it to a new host only; NixosRebuild applies it to this one (README, \"Day 2\")"
  [ ${#changed[@]} -gt 0 ] || return 0
  die "$NI_HOST_NAME is installed (it answers as $role with its pinned key) and settings that only a reinstall applies changed since (recorded in $HOST_DIR/install.json):" \
    "${changed[@]}" \
    "this chain never reinstalls an installed host by itself; nothing was changed on the host" \
    "to keep the host as it is: set these props back, then run terraform apply again (it replaces the phases and changes nothing)" \
    "to reinstall with the new settings: see \"Changes after the install\" in the README (a new server, or the host back in its base system)"
}

main() {
  local now
  adopt_released_records
  now=$(current_role)
  case "$now" in
    initrd | installed) refuse_changed_install_settings "$now" ;;
  esac
  # Before anything else: a probe replaced on a host that is installed already writes it too.
  write_connection_record
  case "$now" in
    installer | initrd | installed)
      log "the host is already past its base system (it answers as $now); nothing to probe"
      return 0 ;;
  esac
  # The passphrase source is tried now, before kexec replaces the base system: a source
  # that fails, hangs or gives a passphrase ZFS would take differently stops here.
  read_passphrase >/dev/null || exit 1
  pin_first_contact
  wait_for_role base "the base system's SSH server"
  confirm_role base
  collect_facts
  check_system
}

main "$@"
