#!/usr/bin/env bash
# Rebuild (NixosRebuild): send the host flake over the installed system's pinned
# connection, build it there and move the host to it (nix/installer/rebuild); then,
# over a NEW connection pinned to the same key, check that the new generation runs,
# verify the host as the verify phase does, and confirm. Whatever fails after the
# activation leaves the host on its previous generation: the host's own timer returns
# it there when no confirmation comes (docs/contracts.md, "Rebuild").
# Settings: see common.sh, plus NI_TARGET_SCRIPTS NI_POOL NI_REBUILD_CONFIG
# NI_REBUILD_ATTRIBUTE NI_REBUILD_MODE NI_REBUILD_ROLLBACK_AFTER NI_RUNTIME_INFO_PATH
# (where in the flake runtime-info.json goes), NI_AUTHORIZED_KEY_0, _1, … (the template's
# root keys; none with the user's own flake, which holds them) and NI_INSTALLED_HOST_KEY,
# NI_INITRD_HOST_KEY (a host installed some other way: its keys, pinned here);
# NI_BUILD_ON=deployer: the toplevel is built here and its closure copied to the host
# (common.sh, build_on_deployer and copy_closure) before the host moves to it.
PHASE=rebuild
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
: "${NI_TARGET_SCRIPTS:?} ${NI_POOL:?} ${NI_REBUILD_CONFIG:?} ${NI_REBUILD_ATTRIBUTE:?} ${NI_REBUILD_MODE:?} ${NI_REBUILD_ROLLBACK_AFTER:?} ${NI_RUNTIME_INFO_PATH:?}"
NI_INSTALLED_HOST_KEY=${NI_INSTALLED_HOST_KEY:-}
NI_INITRD_HOST_KEY=${NI_INITRD_HOST_KEY:-}

REMOTE_DIR=/run/cdktf-nixos-installer
# One rebuild's state on the host (nix/installer/rebuild): letters and digits.
TOKEN=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
STATE="$REMOTE_DIR/rebuild.$TOKEN"
MODE=$NI_REBUILD_MODE
WAIT=$NI_REBUILD_ROLLBACK_AFTER

# A host installed some other way: its installed and initrd keys come from the
# construct. A pin that the chain (or an earlier rebuild) holds already is never
# silently replaced.
pin_given_key() {
  local role=$1 prop=$2 given
  given=$(printf '%s\n' "$3" | awk '{print $1" "$2}')
  [ -n "$3" ] || return 0
  if [ -s "$PIN_DIR/$role" ] && [ "$(pinned "$role")" != "$given" ]; then
    die "\`$prop\` ($(fingerprint "$given")) differs from the $role key pinned in $PIN_DIR/$role ($(fingerprint "$(pinned "$role")"))" \
      "if the host really has a new key, remove $PIN_DIR/$role and run terraform apply again; else set $prop to the pinned key"
  fi
  pin "$role" "$given"
}

# The flake the host is built from: the configuration with the host's runtime-info (the
# record verify wrote) where the flake reads it (common.sh) and, for the template, the
# authorized keys of the construct beside flake.nix (do-install's layout,
# nix/installer/do-install).
stage_rebuild_flake() {
  local stage
  stage=$(stage_flake "$NI_REBUILD_CONFIG" "$NI_RUNTIME_INFO_PATH")
  if [ -n "${NI_AUTHORIZED_KEY_0:-}" ]; then authorized_keys >"$stage/authorized_keys"; fi
  # readable as do-install leaves the flake (this script's umask is 077)
  chmod -R a+rX "$stage"
  printf '%s' "$stage"
}

# fresh_ssh COMMAND: one new connection (no master), checked against the installed pin.
fresh_ssh() {
  local t
  ssh_base_opts installed
  set_left
  t=$LEFT
  [ "$t" -le 60 ] || t=60
  timeout --foreground "$((t + 1))" ssh "${SSH_OPTS[@]}" -o ControlMaster=no -o ControlPath=none -o LogLevel=ERROR "$NI_HOST" "$@"
}

# field TEXT NAME: the value of NAME=… in the last line of TEXT that has one.
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | tail -n 1; }

rolled_back_die() {
  local rollback
  rollback=$(fresh_ssh "bash $REMOTE_DIR/rebuild status --token $TOKEN" 2>/dev/null || true)
  rollback=$(field "$rollback" rollback)
  case "$rollback" in
    0 | "") ;;
    *) die "$1; but the rollback to generation $PREVIOUS failed on the host (exit $rollback)" \
      "the host may still run generation $NEW: inspect it (npx cdktf-nixos-installer ssh $NI_HOST_NAME), its rollback log is /run/cdktf-nixos-installer/rebuild.$TOKEN/ there" ;;
  esac
  die "$1" "the host runs its previous generation $PREVIOUS again (nothing else was changed); /etc/nixos holds the previous configuration" \
    "$2"
}

# After the activation: wait for a new pinned connection, then for the switch to end.
# The window is the rollback timer's, with time for the rollback itself to finish.
# A key that is not the pin after the switch (a man in the middle, or a configuration
# that changed the host key) is never confirmed: nothing is sent to it, the host is
# returned to its previous generation (by its own timer, or at once when the pinned key
# answers again), and the phase fails saying which.
await_new_connection() {
  local until=$((SECONDS + WAIT + 90)) now out said="" refused="" other=""
  BACKOFF_STEP=0
  log "confirming over a new SSH connection pinned to the installed key (the host returns to generation $PREVIOUS by itself $WAIT s after the switch without it)"
  while :; do
    now=$(current_role)
    case "$now" in
      installed)
        if out=$(fresh_ssh "bash $REMOTE_DIR/rebuild status --token $TOKEN" 2>"$WORK_DIR/fresh.err"); then
          said=$out
          # (after a lost session this is the first word of the host about the generations)
          PREVIOUS=$(field "$out" previous)
          NEW=$(field "$out" generation)
          if [ -n "$other" ]; then
            case "$(field "$out" decided)" in
              rolled-back) rolled_back_die "$(other_key_why "$other"), and the host's own timer rolled it back to generation $PREVIOUS" "$(other_key_next)" ;;
              *) roll_back_now "$(other_key_why "$other")" ;;
            esac
          fi
          case "$(field "$out" decided)" in
            rolled-back) rolled_back_die "generation $NEW did not confirm within $WAIT s over a new SSH connection pinned to the host key: the host's own timer rolled it back to generation $PREVIOUS" \
              "the new configuration cut the deploy machine off (SSH, network or firewall): fix it, then run terraform apply again" ;;
          esac
          case "$(field "$out" switch)" in
            running) ;;
            0)
              [ "$(field "$out" running)" = "$(field "$out" expected)" ] && return 0
              roll_back_now "the host runs $(field "$out" running) after the switch, not the new generation $NEW ($(field "$out" expected))" ;;
            *) roll_back_now "switch-to-configuration $MODE of generation $NEW failed on the host (exit $(field "$out" switch)); its log is /run/cdktf-nixos-installer/rebuild.$TOKEN/switch.log there" ;;
          esac
        else
          if grep -q 'Host key verification failed' "$WORK_DIR/fresh.err"; then
            scan_key "$NI_PORT"
            saw_other_key "unknown $OFFERED_FP $NI_PORT"
          else
            [ -n "$refused" ] || log "the host does not take a new SSH connection yet: $(tail -n 1 "$WORK_DIR/fresh.err")"
            refused=yes
          fi
        fi ;;
      initrd) die "$NI_HOST rebooted into its initrd during the switch; it boots generation $NEW once unlocked, without the rollback timer" \
        "unlock it (npx cdktf-nixos-installer unlock $NI_HOST_NAME), check it, then run terraform apply again" ;;
      down) ;;
      unknown*) saw_other_key "$now" ;;
      *) die "$NI_HOST answers as its $now after the switch, not as the installed system" "inspect the host" ;;
    esac
    set_left
    if [ "$SECONDS" -ge "$until" ] || [ "$LEFT" -le 0 ]; then
      [ -z "$other" ] || die "$(other_key_why "$other"); the pinned key did not answer again within $((WAIT + 90)) s of the switch" \
        "the host's own timer returns it to generation $PREVIOUS $WAIT s after the switch; if the pinned key does not come back, the address is not your host's: check it out of band (console)" \
        "$(other_key_next)"
      die "no new SSH connection to the installed system within $((WAIT + 90)) s of the switch to generation $NEW (last: ${said:-$now})" \
        "the host's own timer returns it to generation $PREVIOUS $WAIT s after the switch; check it with: npx cdktf-nixos-installer ssh $NI_HOST_NAME -- nixos-version" \
        "then run terraform apply again"
    fi
    backoff_sleep
  done
}

# saw_other_key ROLE: (the output of current_role, "unknown FINGERPRINT PORT") said once.
saw_other_key() {
  local fp
  fp=$(printf '%s' "$1" | awk '{print $2}')
  [ -z "$other" ] || [ "$other" = "$fp" ] || log "now $NI_HOST offers host key $fp"
  if [ -z "$other" ]; then
    log "$NI_HOST offers host key $fp after the switch, not the pinned installed key $(fingerprint "$(pinned installed)"): generation $NEW is not confirmed and nothing is sent to that key; waiting for the pinned key (the host's own timer returns it to generation $PREVIOUS $WAIT s after the switch)"
  fi
  other=$fp
}

other_key_why() {
  printf '%s offered host key %s after the switch to generation %s, not the pinned installed key (a man in the middle, or the new configuration changed the host key): generation %s was not confirmed and nothing was sent to that key' \
    "$NI_HOST:$NI_PORT" "$1" "$NEW" "$NEW"
}

other_key_next() {
  printf '%s' "keep the host key the chain pinned (services.openssh.hostKeys as installed) and check the network path to $NI_HOST, then run terraform apply again"
}

# roll_back_now WHY: return the host to its previous generation at once (before the
# timer would), then stop with WHY.
roll_back_now() {
  local out
  out=$(fresh_ssh "bash $REMOTE_DIR/rebuild rollback --token $TOKEN" 2>&1) || true
  case "$out" in
    *outcome=*) ;;
    *) die "$1; the rollback could not be started over SSH: $(printf '%s' "$out" | tail -n 1)" \
      "the host's own timer returns it to generation $PREVIOUS $WAIT s after the switch; check it, then run terraform apply again" ;;
  esac
  rolled_back_die "$1" "fix the configuration, then run terraform apply again"
}

# The verify phase's own checks, over a connection of their own (pinned), before the
# confirmation: a host that fails them goes back to its previous generation.
verify_host() {
  local rc=0
  NI_TIMEOUT=$(remaining) bash "$(dirname "${BASH_SOURCE[0]}")/phase-verify.sh" || rc=$?
  [ "$rc" = 0 ] || roll_back_now "the verify checks failed on generation $NEW (see above)"
}

main() {
  local now out rc=0 stage built=""
  case "$MODE" in switch | boot | test) ;; *) die "unknown mode '$MODE' (switch, boot or test)" ;; esac
  pin_given_key installed hostKey "$NI_INSTALLED_HOST_KEY"
  pin_given_key initrd initrdHostKey "$NI_INITRD_HOST_KEY"
  # A host that is down (rebooting) is waited for, but no longer than 300 s, and only
  # until it answers as anything: in its initrd it waits for the passphrase instead.
  BACKOFF_STEP=0
  while now=$(current_role) && [ "$now" = down ]; do
    set_left
    if [ "$SECONDS" -ge 300 ] || [ "$LEFT" -le 0 ]; then
      die "$NI_HOST answers on neither port $NI_PORT nor $NI_UNLOCK_PORT (waited ${SECONDS} s); nothing was sent" \
        "check that the host is up (npx cdktf-nixos-installer status $NI_HOST_NAME), then run terraform apply again"
    fi
    backoff_sleep
  done
  case "$now" in
    installed) ;;
    initrd) die "$NI_HOST waits in its initrd for the disk passphrase; nothing was sent" "unlock it: npx cdktf-nixos-installer unlock $NI_HOST_NAME; then run terraform apply again" ;;
    base | installer) die "$NI_HOST answers as its $now, not the installed system; nothing was sent" "finish the install first: $(replace_hint install)" ;;
    *) stop_on_unknown_key "$now" ;;
  esac
  confirm_role installed
  stage=$(stage_rebuild_flake)
  if [ "$NI_BUILD_ON" = deployer ]; then
    # before anything is sent: a build that fails leaves the host untouched
    build_on_deployer "$stage" "$NI_REBUILD_ATTRIBUTE"
    built="--system $SYSTEM"
  fi
  send_file installed "$REMOTE_DIR/rebuild" "the rebuild script" <"$NI_TARGET_SCRIPTS/rebuild"
  send_dir installed "$stage" "$STATE/flake" "the host flake"
  if [ -n "$built" ]; then
    copy_closure installed
    log "activating ($MODE) on the host; its progress follows"
  else
    log "building and activating ($MODE) on the host; its progress follows"
  fi
  out=$(ssh_run_job installed "bash $REMOTE_DIR/rebuild apply --token $TOKEN --attribute $NI_REBUILD_ATTRIBUTE --runtime-info-path $NI_RUNTIME_INFO_PATH --mode $MODE --rollback-after $WAIT $built") || rc=$?
  case "$rc" in
    0) ;;
    # The activation may have cut this session: the new connection tells what happened.
    255) log "the SSH session ended during the rebuild (the activation may restart sshd or the network); a new connection follows" ;;
    *) die_remote "$rc" installed "rebuilding" "the rebuild stopped on the host (its error is above)" "fix what it names, then run terraform apply again" ;;
  esac
  ssh_close installed
  PREVIOUS=$(field "$out" previous)
  NEW=$(field "$out" generation)
  case "$out" in
    unchanged*)
      log "generation $NEW already is this configuration; nothing activated"
      verify_host
      return 0 ;;
  esac
  if [ "$MODE" = boot ]; then
    verify_host
    log "generation $NEW is the system's default from the next boot; the running system is unchanged (generation $PREVIOUS)"
    return 0
  fi
  await_new_connection
  verify_host
  out=$(fresh_ssh "bash $REMOTE_DIR/rebuild confirm --token $TOKEN") ||
    rolled_back_die "the confirmation of generation $NEW was refused (see above)" "run terraform apply again"
  log "confirmed: generation $NEW runs on $NI_HOST ($MODE); generation $PREVIOUS stays for a rollback by hand (nixos-rebuild switch --rollback)"
}

main "$@"
