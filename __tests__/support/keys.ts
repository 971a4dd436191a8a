// Syntactically valid public keys for synth tests (no private half exists anywhere).
export const BASE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBase0000000000000000000000000000000000000000";
export const USER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUser0000000000000000000000000000000000000000 alice@laptop";
