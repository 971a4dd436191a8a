# The kexec bundle as one .tar.gz of a directory named kexec/, for download by
# URL (run-installer's caller checks its sha256 before unpacking).
{ pkgs, bundle }:
let
  system = pkgs.stdenv.hostPlatform.system;
in
pkgs.runCommand "cdktf-nixos-installer-kexec-${system}.tar.gz" { } ''
  mkdir kexec
  cp -L ${bundle}/* kexec/
  chmod u+w kexec/*
  # reproducible: fixed order, owner and time; the initrd is compressed already,
  # gzip only packs the rest
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1 -cf - kexec \
    | gzip -9n > $out
''
