#!/usr/bin/env bash
# An OpenSSH session to one role of the host, pinned as the chain pins (common.sh
# ssh_base_opts: the role's pin is the only known host key, StrictHostKeyChecking=yes),
# for `cdktf-nixos-installer ssh`. Before it connects, the key the host offers on the
# role's port is checked: a key that matches no pin stops here (a possible man in the
# middle), a host in another role is named.
#   host-ssh.sh ROLE [COMMAND...]
# Settings: see common.sh (NI_TIMEOUT bounds the check, not the session).
PHASE=ssh
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# A session is no phase: no transfer figures at the end.
report_transfer() { :; }

main() {
  local role=$1 now rc=0 i=0 opts=()
  shift
  now=$(current_role)
  case "$now" in
    "$role") ;;
    down) die "$NI_HOST answers on neither port $NI_PORT nor $NI_UNLOCK_PORT" "check that the host is up; \`cdktf-nixos-installer status $NI_HOST_NAME\` says which role it answers as" ;;
    unknown*) stop_on_unknown_key "$now" ;;
    *) die "$NI_HOST answers as its $now, not as its $role (by the key it offers)" \
      "for the $now: --role $now$([ "$now" != initrd ] || printf '; to unlock it: cdktf-nixos-installer unlock %s' "$NI_HOST_NAME")" ;;
  esac
  ssh_base_opts "$role"
  # An interactive session: a terminal when there is one (no -T), and a key file's own
  # passphrase may be asked (no BatchMode); every pinning option stays.
  while [ "$i" -lt "${#SSH_OPTS[@]}" ]; do
    case "${SSH_OPTS[$i]}" in
      -T) ;;
      -o)
        i=$((i + 1))
        [ "${SSH_OPTS[$i]}" = BatchMode=yes ] || opts+=(-o "${SSH_OPTS[$i]}") ;;
      *) opts+=("${SSH_OPTS[$i]}") ;;
    esac
    i=$((i + 1))
  done
  # The user's command goes to the remote shell as ssh always sends one (words joined).
  # shellcheck disable=SC2029
  ssh "${opts[@]}" "$NI_HOST" "$@" || rc=$?
  return "$rc"
}

main "$@"
