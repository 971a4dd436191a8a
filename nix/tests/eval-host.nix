# What the Nix side derives from one runtime-info.json, as plain data.
#
#   nix-instantiate --eval --strict --json nix/tests/eval-host.nix \
#     --argstr runtimeInfo /mnt/etc/nixos/runtime-info.json
#
# The lab test runs this on the file do-install wrote, so the installed host
# and the install chain are checked through the same pure functions.
{ runtimeInfo, poolName ? "rpool" }:
import ../lib/host-facts.nix {
  runtimeInfo = /. + runtimeInfo;
  inherit poolName;
}
