import "./require-core";
export * from "./validation";
export * from "./passphrase-source";
export * from "./ssh-identity";
export * from "./kexec-bundle";
export * from "./host-configuration";
export * from "./runtime-info";
export * from "./phase-resource";
export * from "./terraform-data-phase";
export * from "./null-resource-phase";
export * from "./tls-private-key";
export * from "./tls-provider";
export * from "./nixos-install";
export * from "./nixos-rebuild";
export * from "./hcloud-nixos-server";
// The hcloud bindings HcloudNixosServer's API uses; the subpath
// `cdktf-nixos-installer/hcloud` serves the same namespaces on their own.
export * as hcloud from "./hcloud";
