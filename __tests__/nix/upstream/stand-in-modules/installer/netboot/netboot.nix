# Stand-in for nixpkgs' nixos/modules/installer/netboot/netboot.nix, which the installer
# image imports: what it declares that our module sets (netboot.*) is a stand-in option
# of ../../../stand-ins.nix; nothing of it is evaluated here.
{ }
