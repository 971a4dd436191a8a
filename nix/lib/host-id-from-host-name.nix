# hostName -> networking.hostId (8 lower-case hex characters).
#
# ZFS records the host id of the system that imported a pool; it must be stable
# for the life of the host and differ between hosts. Deriving it from the host
# name makes it reproducible from runtime-info alone (no state to carry around).
# A zero id is reserved by ZFS ("no host id"), so it is rehashed.
let
  derive = s:
    let id = builtins.substring 0 8 (builtins.hashString "sha256" s); in
    if id == "00000000" then derive ("hostid:" + s) else id;
in
hostName:
if !builtins.isString hostName || hostName == ""
then throw "hostIdFromHostName: `hostName` must be a non-empty string, got: ${builtins.toJSON hostName}"
else derive hostName
