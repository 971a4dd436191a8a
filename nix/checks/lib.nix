# The pure-function cases of nix/tests as a flake check: evaluated at eval time,
# a failing case fails evaluation with the expected and actual values.
{ pkgs }:
let
  result = import ../tests;
in
if result.failed == [ ] then
  pkgs.runCommand "nix-lib-tests" { } ''
    echo "${toString result.total} cases passed" > $out
  ''
else
  throw ("nix/tests failed:\n" + builtins.toJSON result.failed)
