#!/usr/bin/env bash
# Which role the host answers as, judged by the key it offers against its pins: the
# chain's own test (common.sh current_role), for `cdktf-nixos-installer status`.
# Prints one line: a role (base, installer, initrd, installed), "down", or
# "unknown SHA256:… PORT" (a key that matches no pin). Sends no credential.
# Settings: see common.sh (NI_TIMEOUT bounds the key scans).
PHASE=status
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# A key scan is no phase: no transfer figures at the end.
report_transfer() { :; }

printf '%s\n' "$(current_role)"
