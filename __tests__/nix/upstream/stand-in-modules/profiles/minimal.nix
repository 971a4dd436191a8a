# Stand-in for nixpkgs' nixos/modules/profiles/minimal.nix, which the installer image
# imports; nothing of it is evaluated here.
{ }
