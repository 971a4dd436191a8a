# Pure functions of this project (builtins only, no nixpkgs), so that they can be
# tested with plain `nix-instantiate --eval --strict` and reused by the flake.
# This file only re-exports; each function lives in the file named after it.
let
  validateRuntimeInfo = import ./validate-runtime-info.nix;
in
{
  inherit validateRuntimeInfo;
  readRuntimeInfo = import ./read-runtime-info.nix;
  hostIdFromHostName = import ./host-id-from-host-name.nix;
  networkdNetworks = import ./networkd-networks.nix;
  networkdUnitFiles = import ./networkd-unit-files.nix;
  diskoLayout = import ./disko-layout.nix;
  bootMirrors = import ./boot-mirrors.nix;
  serialConsole = import ./serial-console.nix;
  parseAuthorizedKeys = import ./parse-authorized-keys.nix;
  isAuthorizedKeyLine = import ./authorized-key-line.nix;
  hostFacts = import ./host-facts.nix;
  installerSources = import ./installer-sources.nix;
}
