# Runs the cases of ./lib.nix and returns plain data:
#   { total; passed = [ names ]; failed = [ { name; expected; actual; } ]; }
#
#   nix-instantiate --eval --strict --json nix/tests
let
  cases = import ./lib.nix;
  names = builtins.attrNames cases;
  ok = name: cases.${name}.actual == cases.${name}.expected;
in
{
  total = builtins.length names;
  passed = builtins.filter ok names;
  failed = map (name: { inherit name; inherit (cases.${name}) expected actual; })
    (builtins.filter (name: !ok name) names);
}
