export * from "./validation";
export * from "./passphrase-source";
export * from "./ssh-identity";
export * from "./kexec-bundle";
export * from "./runtime-info";
export * from "./nixos-install";
export * from "./hcloud-nixos-server";
