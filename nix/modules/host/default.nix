# The installed host: everything runtime-info decides, under `nixosInstaller.*`.
# Imports its parts so that `nixosModules.host` alone gives the whole opinion
# (the flake adds disko's and impermanence's modules beside it).
{
  imports = [
    ./options.nix
    ./disks.nix
    ./boot.nix
    ./network.nix
    ./ssh.nix
    ./state.nix
    ../initrd-unlock.nix
    ../hcloud.nix
    ../impermanence.nix
  ];
}
