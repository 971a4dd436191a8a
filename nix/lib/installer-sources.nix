# The sources the kexec installer carries, as do-install reads them from
# /etc/cdktf-nixos-installer/sources.json to lock the host flake (docs/contracts.md,
# "sources.json, version 1"). Builtins only.
#
#   flakeInputs  the `inputs` of this project's flake.nix (`(import ./flake.nix).inputs`):
#                how this flake names each source and what its inputs follow, which is
#                what a lock below a host flake's `cdktf-nixos-installer` input must
#                record for Nix to take it as up to date
#   locked       name -> the locked reference of that source: what nixpkgs'
#                `nix.registry.<name>.to` makes of `flake = <input>` (nix-flakes.nix:
#                { type = "path"; path = outPath; } with lastModified, rev, revCount and
#                narHash of the input), for `cdktf-nixos-installer` (this flake's own
#                source) and every input of flakeInputs
#
# Each source becomes { locked; original?; inputs? }, the fields of a node of Nix's
# lock file (version 7, src/libflake/lockfile.cc): `original` is how this flake's
# flake.nix names the source (absent for this flake itself, which a host flake names);
# `inputs` maps an input of the source either to the name of another source (a node of
# its own) or to a `follows` path relative to the flake that declares the source, as
# flake.nix writes it ([] for `follows = ""`).
{ flakeInputs, locked }:
let
  self = "cdktf-nixos-installer";
  names = builtins.attrNames flakeInputs;

  # "github:OWNER/REPO[/REF]" -> the attributes Nix's lock file records as `original`
  # (src/libfetchers/github.cc: type, owner, repo, ref); any other form is refused, as
  # a lock written for it could not be proven here.
  parseUrl = name: url:
    let parts = builtins.match "github:([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)(/([A-Za-z0-9_./-]+))?" url; in
    if parts == null then
      throw "installer-sources: input ${name} of flake.nix has url ${url}; only github:OWNER/REPO[/REF] is understood here, extend nix/lib/installer-sources.nix"
    else
      { type = "github"; owner = builtins.elemAt parts 0; repo = builtins.elemAt parts 1; }
      // (if builtins.elemAt parts 3 == null then { } else { ref = builtins.elemAt parts 3; });

  split = s: builtins.filter (p: p != "" && !builtins.isList p) (builtins.split "/" s);
  followsOf = name: input: sub: spec:
    if spec ? follows then split spec.follows
    else throw "installer-sources: input ${name}.inputs.${sub} of flake.nix has no `follows`; the installer carries only ${builtins.concatStringsSep ", " ([ self ] ++ names)}, so every input of an input must follow one of them";

  lockedOf = name:
    if locked ? ${name} then
      let l = locked.${name}; in
      if !(l ? narHash) then throw "installer-sources: source ${name} has no narHash; pass the flake input itself (its narHash pins the lock)"
      else l
    else throw "installer-sources: no locked reference for source ${name}; pass one for ${builtins.concatStringsSep ", " ([ self ] ++ names)}";

  ofInput = name:
    let input = flakeInputs.${name}; in
    {
      locked = lockedOf name;
      original = parseUrl name (input.url or (throw "installer-sources: input ${name} of flake.nix has no url"));
    }
    // (if input ? inputs then { inputs = builtins.mapAttrs (followsOf name input) input.inputs; } else { });
in
{
  version = 1;
  sources = builtins.listToAttrs (map (n: { name = n; value = ofInput n; }) names) // {
    ${self} = {
      locked = lockedOf self;
      inputs = builtins.listToAttrs (map (n: { name = n; value = n; }) names);
    };
  };
}
