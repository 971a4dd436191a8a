# sshd of the installed system: one pinned ed25519 host key on /persist, keys only.
{ config, lib, ... }:
let
  cfg = config.nixosInstaller;
in
{
  config = lib.mkIf (cfg.runtimeInfo != null) {
    services.openssh = {
      enable = true;
      # exactly the key do-install generated and the chain pinned; no other
      # key types are generated
      hostKeys = [ { path = cfg.sshHostKey; type = "ed25519"; } ];
      settings = {
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
        PermitRootLogin = "prohibit-password";
      };
    };
    users.users.root.openssh.authorizedKeys.keys = cfg.authorizedKeys;
    users.mutableUsers = lib.mkDefault false;
  };
}
