#!/usr/bin/env bash
# Phase 3, install: in the installer, send the disk passphrase on stdin to do-install
# (disk layout, encrypted pool, host keys made on the target, host flake, nixos-install),
# pin the installed system's and its initrd's host keys, reboot, wait for the initrd.
# Settings: see common.sh, plus NI_TARGET_SCRIPTS NI_TEMPLATE NI_WIPE NI_POOL
# NI_AUTHORIZED_KEY_0, _1, … and NI_PASSPHRASE_KIND/NI_PASSPHRASE_REF; with a user's
# flake (HostConfiguration.fromFlake) NI_FLAKE (its files, as sent), NI_FLAKE_ATTRIBUTE
# and NI_RUNTIME_INFO_PATH (where in it runtime-info.json goes); NI_BUILD_ON=deployer
# (with a user's flake): the toplevel is built here, before anything is sent, and
# do-install runs in two steps around the `nix copy` of its closure into /mnt.
PHASE=install
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
: "${NI_TARGET_SCRIPTS:?} ${NI_TEMPLATE:?} ${NI_WIPE:?} ${NI_POOL:?} ${NI_AUTHORIZED_KEY_0:?}"

# The installer's root is a tmpfs: nothing written here survives it.
REMOTE_DIR=/run/cdktf-nixos-installer

upload() {
  # Replace only what is uploaded: do-install keeps its own state in $REMOTE_DIR (the
  # disks this installer boot partitioned, its log), which a re-run after a failed or
  # interrupted attempt needs to know that the disk is its own work, not an earlier install.
  send_file installer "$REMOTE_DIR/do-install" do-install <"$NI_TARGET_SCRIPTS/do-install"
  if [ -n "${NI_FLAKE:-}" ]; then
    send_dir installer "$NI_FLAKE" "$REMOTE_DIR/flake" "your host flake"
  else
    send_dir installer "$NI_TEMPLATE" "$REMOTE_DIR/template" "the host template"
  fi
  send_file installer "$REMOTE_DIR/runtime-info.json" runtime-info <"$HOST_DIR/runtime-info.json"
  authorized_keys | send_file installer "$REMOTE_DIR/authorized_keys" "the authorized keys"
}

# What do-install installs: the template, or the user's flake and where its parts are.
configuration_args() {
  if [ -n "${NI_FLAKE:-}" ]; then
    printf -- '--flake %s --attribute %s --runtime-info-path %s' "$REMOTE_DIR/flake" "${NI_FLAKE_ATTRIBUTE:?}" "${NI_RUNTIME_INFO_PATH:?}"
  else
    printf -- '--template %s' "$REMOTE_DIR/template"
  fi
}

# do_install [ARGS...]: run do-install with the phase's settings and ARGS; stdin goes to
# it (the passphrase, or nothing). It learns how long this phase still waits for it,
# and does not begin the layout without the time to finish it.
do_install() {
  ssh_run_job installer \
    "bash $REMOTE_DIR/do-install --runtime-info $REMOTE_DIR/runtime-info.json $(configuration_args) --authorized-keys $REMOTE_DIR/authorized_keys --wipe $NI_WIPE --pool $NI_POOL --time-left $(remaining) $*"
}
do_install_failed() {
  die_remote "$1" installer "running do-install" "do-install failed; nothing was rebooted (its message and log tail are above)" \
    "fix what it names, then run terraform apply again: the installer is still running"
}

install() {
  local passphrase=$1 out key
  # printf is a shell builtin: the passphrase reaches ssh's stdin, never an argv.
  if [ "$NI_BUILD_ON" = deployer ]; then
    log "installing (disk layout, encrypted pool $NI_POOL), then the system built here; the installer's progress follows"
    printf '%s\n' "$passphrase" | do_install --step layout >/dev/null || do_install_failed $?
    passphrase=""
    copy_closure installer "local?root=/mnt"
    out=$(do_install --step system --system "$SYSTEM" </dev/null) || do_install_failed $?
  else
    log "installing (disk layout, encrypted pool $NI_POOL, nixos-install); the installer's progress follows"
    out=$(printf '%s\n' "$passphrase" | do_install) || do_install_failed $?
  fi
  passphrase=""
  key=$(printf '%s\n' "$out" | sed -n 's/^host-key: //p')
  [ -n "$key" ] || die "do-install printed no host key" "its output was: $out"
  pin installed "$key"
  key=$(printf '%s\n' "$out" | sed -n 's/^initrd-host-key: //p')
  [ -n "$key" ] || die "do-install printed no initrd host key" "its output was: $out"
  pin initrd "$key"
  log "pinned the installed system's host key $(fingerprint "$(pinned installed)") and its initrd's $(fingerprint "$(pinned initrd)")"
  # What it was installed with: a later change of these is refused, not passed over (phase-probe.sh).
  write_install_record
}

reboot_host() {
  # Detached, so this session ends cleanly before the host goes down.
  ssh_run installer "nohup sh -c 'sleep 1; reboot' >/dev/null 2>&1 &" || true
  ssh_close installer
  log "rebooting into the installed system"
}

main() {
  local now passphrase
  now=$(current_role)
  case "$now" in
    initrd | installed)
      log "NixOS is already installed (the host answers as $now); nothing to install"
      return 0 ;;
    base)
      die "$NI_HOST runs its base system, not the installer: the installer rebooted or kexec never finished" \
        "run: $(replace_hint kexec)" ;;
    down) wait_for_role installer "the installer's SSH server" ;;
    installer) ;;
    *) stop_on_unknown_key "$now" ;;
  esac
  confirm_role installer
  # A build here comes first: one that fails leaves the host untouched.
  if [ "$NI_BUILD_ON" = deployer ]; then
    [ -n "${NI_FLAKE:-}" ] || die "buildOn \"deployer\" needs your own flake (HostConfiguration.fromFlake); nothing was sent" "set configuration: HostConfiguration.fromFlake({ dir }), or buildOn: \"target\""
    build_on_deployer "$(stage_flake "$NI_FLAKE" "$NI_RUNTIME_INFO_PATH")" "$NI_FLAKE_ATTRIBUTE"
  fi
  # The passphrase next: a bad or slow source stops the phase before anything is sent.
  passphrase=$(read_passphrase) || exit 1
  upload
  install "$passphrase"
  passphrase=""
  reboot_host
  wait_for_role initrd "the installed system's initrd (SSH for unlocking)"
}

main "$@"
