{
  # One host, installed by cdktf-nixos-installer (or made with `nix flake init -t`
  # from its flake's `templates.host`).
  #
  # Beside this file:
  #   runtime-info.json   facts about the machine (written by write-runtime-info)
  #   authorized_keys     public keys for root (installed system and unlock), one
  #                       authorized_keys line each, any key type, options allowed
  #   flake.lock          written by do-install: the input below locked to the source
  #                       the installer carries (store path and narHash), so the
  #                       install and the first rebuild fetch no source
  # do-install copies this directory to /persist/etc/nixos (the host's /etc/nixos
  # links there) and adds the three files.
  # Rebuild on the host:  nixos-rebuild switch --flake /etc/nixos#HOSTNAME
  description = "A NixOS host installed by cdktf-nixos-installer";

  # An indirect id: the flake.lock pins it; without one, Nix resolves it through the
  # flake registry (the installer registers its own source under this id; elsewhere
  # add it once: docs/nix.md, "One host").
  inputs.cdktf-nixos-installer.url = "cdktf-nixos-installer";

  outputs = { self, cdktf-nixos-installer }:
    let
      inherit ((builtins.fromJSON (builtins.readFile ./runtime-info.json))) hostName;
      host = cdktf-nixos-installer.lib.mkHost {
        runtimeInfo = ./runtime-info.json;
        authorizedKeys = ./authorized_keys;
        # Your configuration goes here (or into ./configuration.nix).
        modules = [
          ({ ... }: {
            # nixosInstaller.impermanence.enable = true;
            system.stateVersion = "26.05";
          })
        ];
      };
    in
    {
      nixosConfigurations.${hostName} = host;
    };
}
