# The target-side scripts of nix/installer/ as packages, shellchecked at build time
# (writeShellApplication). write-runtime-info and run-installer run on the base system
# from the bundle's verbatim copies; do-install, write-networkd-units, carry-payload and
# unlock run in the installer and the initrd, built there by their modules; these
# packages exist for the checks and for people who want them on PATH.
{ pkgs }:
let
  script = name: runtimeInputs: pkgs.writeShellApplication {
    inherit name runtimeInputs;
    text = builtins.readFile (../installer + "/${name}");
  };
in
{
  write-runtime-info = script "write-runtime-info" [ pkgs.iproute2 pkgs.util-linux pkgs.coreutils ];
  run-installer = script "run-installer" [ pkgs.kexec-tools pkgs.cpio pkgs.gzip pkgs.openssh pkgs.coreutils ];
  do-install = script "do-install" [ ];
  write-networkd-units = script "write-networkd-units" [ ];
  carry-payload = script "carry-payload" [ ];
  unlock = script "unlock" [ ];
}
