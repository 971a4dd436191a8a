# The kexec bundle of docs/contracts.md: kernel, initrd, cmdline, manifest.json,
# a static kexec (stock Debian and Ubuntu images have no kexec-tools; run-installer
# prefers this one), plus the two base-system scripts (POSIX sh, no /nix/store path)
# copied verbatim so the bundle is usable on its own.
{ pkgs, installer }:
let
  inherit (installer.config.system) build;
  system = pkgs.stdenv.hostPlatform.system;
  kernelFile = installer.config.system.boot.loader.kernelFile;
  cmdline = "init=${build.toplevel}/init ${toString installer.config.boot.kernelParams}";
in
pkgs.runCommand "cdktf-nixos-installer-kexec-${system}"
  {
    nativeBuildInputs = [ pkgs.jq ];
    passthru = { inherit installer; };
  }
  ''
    mkdir -p $out
    cp ${build.kernel}/${kernelFile} $out/kernel
    cp ${build.netbootRamdisk}/initrd $out/initrd
    # one line; the kernel parameters only, never a secret
    printf '%s\n' ${pkgs.lib.escapeShellArg cmdline} > $out/cmdline
    # statically linked: runs on any base system of the architecture
    install -m 0755 ${pkgs.pkgsStatic.kexec-tools}/bin/kexec $out/kexec
    ${pkgs.lib.optionalString (pkgs.stdenv.hostPlatform == pkgs.stdenv.buildPlatform) "$out/kexec --version"}
    install -m 0755 ${../installer/run-installer} $out/run-installer
    install -m 0755 ${../installer/write-runtime-info} $out/write-runtime-info

    entry() {
      jq -n --arg sha "$(sha256sum "$out/$1" | cut -d' ' -f1)" --argjson size "$(stat -c %s "$out/$1")" \
        '{ size: $size, sha256: $sha }'
    }
    jq -n \
      --arg system ${system} \
      --arg nixosVersion ${installer.config.system.nixos.version} \
      --argjson kernel "$(entry kernel)" \
      --argjson initrd "$(entry initrd)" \
      --argjson cmdline "$(entry cmdline)" \
      --argjson kexec "$(entry kexec)" \
      '{ version: 1, system: $system, nixosVersion: $nixosVersion,
         files: { kernel: $kernel, initrd: $initrd, cmdline: $cmdline, kexec: $kexec } }' \
      > $out/manifest.json
  ''
