# path of a runtime-info.json, or an already parsed attrset -> validated attrset.
let
  validate = import ./validate-runtime-info.nix;
in
source:
if builtins.isAttrs source then validate source
else if builtins.pathExists source then validate (builtins.fromJSON (builtins.readFile source))
else throw "runtime-info: file ${toString source} does not exist; write it with write-runtime-info (or copy hosts/NAME/runtime-info.json) first"
