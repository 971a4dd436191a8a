# Optional impermanence: / is rolled back to the blank snapshot on every boot
# (in the systemd initrd, after the pool's key is loaded, before / is mounted);
# what must survive lives on /persist through the impermanence module.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.nixosInstaller;
  icfg = cfg.impermanence;
  rootDataset = "${cfg.pool}/local/root";
  zfs = "${config.boot.zfs.package}/sbin/zfs";
in
{
  # the shared nixosInstaller options; imported by path, so deduplicated
  imports = [ ./host/options.nix ];

  options.nixosInstaller.impermanence = {
    enable = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Roll / (${"$"}{pool}/local/root) back to its @blank snapshot at every boot
        and keep only what is listed here (and /nix, /home, /persist) across
        reboots.
      '';
    };
    directories = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "/var/lib/postgresql" ];
      description = "Extra directories kept on /persist, beside the ones this module always keeps.";
    };
    files = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra files kept on /persist.";
    };
  };

  config = lib.mkIf (cfg.runtimeInfo != null && icfg.enable) {
    environment.persistence."/persist" = {
      hideMounts = true;
      # (the host flake is on /persist already, /etc/nixos links to it: host/state.nix)
      directories = [
        "/var/log"
        "/var/lib/nixos"
        "/var/lib/systemd"
      ] ++ icfg.directories;
      files = [ "/etc/machine-id" ] ++ icfg.files;
    };

    # What do-install copies from the fresh root to /persist after nixos-install, before
    # the first boot rolls / back to @blank: every path kept here, user's included.
    environment.etc."cdktf-nixos-installer/persisted-paths".text =
      let p = config.environment.persistence."/persist"; in
      lib.concatMapStrings (x: x + "\n") (map (d: d.directory) p.directories ++ map (f: f.file) p.files);

    boot.initrd.systemd.services.nixos-installer-rollback-root = {
      description = "Roll ${rootDataset} back to @blank";
      wantedBy = [ "initrd.target" ];
      # the import unit loads the key (after `unlock`); / is mounted afterwards
      after = [ "zfs-import-${cfg.pool}.service" ];
      before = [ "sysroot.mount" ];
      unitConfig.DefaultDependencies = "no";
      serviceConfig.Type = "oneshot";
      script = "${zfs} rollback -r ${rootDataset}@blank";
    };
    boot.initrd.systemd.storePaths = [ zfs ];
  };
}
