#!/usr/bin/env bash
# Phase 2, kexec: deliver the bundle, append the installer's keys and runtime-info to
# its initrd on the host, kexec, and wait for the installer's pinned host key.
# Settings: see common.sh, plus NI_TARGET_SCRIPTS NI_BUNDLE_KIND (path|url|flake)
# NI_BUNDLE_PATH NI_BUNDLE_URL NI_BUNDLE_SHA256 NI_BUNDLE_FLAKE NI_AUTHORIZED_KEY_0, NI_AUTHORIZED_KEY_1, ….
PHASE=kexec
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
: "${NI_TARGET_SCRIPTS:?} ${NI_BUNDLE_KIND:?} ${NI_AUTHORIZED_KEY_0:?}"

REMOTE_DIR=/root/cdktf-nixos-installer
# A base system that answers again this long after kexec -e has not kexec'd.
KEXEC_GRACE=${NI_KEXEC_GRACE:-20}

deliver_bundle() {
  local dir
  case "$NI_BUNDLE_KIND" in
    url)
      log "the host downloads the bundle from $NI_BUNDLE_URL"
      ssh_run_job base "sh -s" <<REMOTE || die_remote $? base "fetching the bundle" "the host could not fetch or check the bundle (see above)" "check the URL and sha256 of KexecBundle.fromUrl, and that the host reaches the URL"
set -eu
cd $REMOTE_DIR
if command -v curl >/dev/null 2>&1; then
  curl -fsSL --retry 3 --connect-timeout 10 --max-time $(remaining) -o kexec.tar.gz '$NI_BUNDLE_URL'
else
  wget -q -T 10 -O kexec.tar.gz '$NI_BUNDLE_URL'
fi
if ! echo '$NI_BUNDLE_SHA256  kexec.tar.gz' | sha256sum -c - >/dev/null 2>&1; then
  echo "error: the bundle's sha256 is \$(sha256sum kexec.tar.gz | cut -d' ' -f1), expected $NI_BUNDLE_SHA256" >&2
  rm -f kexec.tar.gz; exit 1
fi
rm -rf kexec && tar -xzf kexec.tar.gz && rm -f kexec.tar.gz
REMOTE
      return 0 ;;
    flake)
      command -v "$DEPLOYER_NIX" >/dev/null ||
        die "KexecBundle.fromFlake needs Nix on the deploy machine ('$DEPLOYER_NIX' not found)" \
          "install Nix (or set CDKTF_NIXOS_INSTALLER_NIX to its path), or use KexecBundle.fromUrl / fromPath"
      log "building $NI_BUNDLE_FLAKE (nix build, at apply time; up to the $(remaining) s left of timeouts.kexec)"
      # The deploy machine's one Nix call (common.sh): CDKTF_NIXOS_INSTALLER_NIX, flakes
      # enabled for this call (a default Nix has them off), bounded by the phase deadline.
      dir=$(deployer_nix build --no-link --print-out-paths "$NI_BUNDLE_FLAKE" </dev/null) || {
        [ $? != 124 ] || die "nix build $NI_BUNDLE_FLAKE did not finish within the $NI_TIMEOUT s of timeouts.kexec" \
          "nothing was sent to the host; build it once by hand (nix build $NI_BUNDLE_FLAKE) so that the next build is a cache hit, or raise timeouts.kexec"
        die "nix build $NI_BUNDLE_FLAKE failed (see above)"
      } ;;
    path) dir=$NI_BUNDLE_PATH ;;
    *) die "unknown bundle kind '$NI_BUNDLE_KIND'" ;;
  esac
  local f
  for f in kernel initrd cmdline manifest.json; do
    [ -f "$dir/$f" ] || die "the kexec bundle $dir has no $f" "a bundle is the output of nix build .#kexec (kernel, initrd, cmdline, manifest.json)"
  done
  log "uploading the bundle ($(du -shL "$dir" | cut -f1))"
  send_dir base "$dir" "$REMOTE_DIR/kexec" "the bundle"
}

start_installer() {
  local out key
  send_file base "$REMOTE_DIR/run-installer" run-installer <"$NI_TARGET_SCRIPTS/run-installer"
  authorized_keys | send_file base "$REMOTE_DIR/authorized_keys" "the authorized keys"
  send_file base "$REMOTE_DIR/runtime-info.json" runtime-info <"$HOST_DIR/runtime-info.json"
  out=$(ssh_run_job base "sh $REMOTE_DIR/run-installer --bundle $REMOTE_DIR/kexec --runtime-info $REMOTE_DIR/runtime-info.json --authorized-keys $REMOTE_DIR/authorized_keys") ||
    die_remote $? base "running run-installer" "run-installer refused to kexec (its message is above)" "fix what it names, then run terraform apply again"
  key=$(printf '%s\n' "$out" | sed -n 's/^installer-host-key: //p')
  [ -n "$key" ] || die "run-installer printed no installer host key" "output was: $out"
  pin installer "$key"
  log "installer host key pinned: $(fingerprint "$key")"
  ssh_close base
}

# Wait for the installer; a base system that answers again after going down (or
# that never goes down) means kexec silently did not happen.
wait_for_installer() {
  local started=$SECONDS seen_down=false now
  BACKOFF_STEP=0
  log "kexec started; waiting up to $(remaining) s for the installer on $NI_HOST:$NI_PORT"
  while :; do
    now=$(current_role)
    case "$now" in
      installer) return 0 ;;
      down) seen_down=true ;;
      base)
        if [ "$seen_down" = true ] || [ $((SECONDS - started)) -ge "$KEXEC_GRACE" ]; then
          die "kexec did not happen: $NI_HOST answers again with its base system's host key" \
            "the base kernel may refuse kexec (secure boot, lockdown, kexec disabled) or the host rebooted into its old system" \
            "look at dmesg on the host; then run: $(replace_hint kexec)"
        fi ;;
      *) stop_on_unknown_key "$now" ;;
    esac
    set_left
    [ "$LEFT" -gt 0 ] || die "timed out after $NI_TIMEOUT s waiting for the installer on $NI_HOST:$NI_PORT (last seen: $now)" \
      "check the host's console; raise timeouts.kexec if it is slow; then run terraform apply again"
    backoff_sleep
  done
}

main() {
  local now
  now=$(current_role)
  case "$now" in
    installer)
      confirm_role installer
      log "the installer is already running; nothing to kexec"
      return 0 ;;
    initrd | installed)
      log "the host is already past the installer (it answers as $now); nothing to kexec"
      return 0 ;;
    down) wait_for_role base "the base system's SSH server" ;;
    base) ;;
    *) stop_on_unknown_key "$now" ;;
  esac
  confirm_role base
  deliver_bundle
  start_installer
  wait_for_installer
  confirm_role installer
  log "the installer is up"
}

main "$@"
