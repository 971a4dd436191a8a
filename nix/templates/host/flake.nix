{
  # One host, installed by cdktf-nixos-installer (or made with
  # `nix flake init -t github:cdktf-nixos-installer/cdktf-nixos-installer#host`).
  #
  # Beside this file:
  #   runtime-info.json   facts about the machine (written by write-runtime-info)
  #   authorized_keys     public keys for root (installed system and unlock), one
  #                       authorized_keys line each, any key type, options allowed
  # do-install copies this directory to /persist/etc/nixos (the host's /etc/nixos
  # links there) and adds both files.
  # Rebuild on the host:  nixos-rebuild switch --flake /etc/nixos#HOSTNAME
  description = "A NixOS host installed by cdktf-nixos-installer";

  inputs.cdktf-nixos-installer.url = "github:cdktf-nixos-installer/cdktf-nixos-installer";

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
