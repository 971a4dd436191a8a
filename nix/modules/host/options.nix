# Options shared by the host modules. Everything the project adds lives under
# `nixosInstaller.*`; each option states its type, default and meaning.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  nixLib = import ../../lib;
  cfg = config.nixosInstaller;
in
{
  options.nixosInstaller = {
    runtimeInfo = mkOption {
      type = types.nullOr (types.attrsOf types.anything);
      default = null;
      description = ''
        The host's runtime-info (schema/runtime-info.v1.schema.json), parsed.
        `lib.mkHost` sets it from the host flake's runtime-info.json. It is
        validated on use; version 1 only. While null, the modules configure
        nothing from it.
      '';
    };

    validatedRuntimeInfo = mkOption {
      type = types.attrsOf types.anything;
      readOnly = true;
      internal = true;
      default = nixLib.validateRuntimeInfo cfg.runtimeInfo;
      defaultText = lib.literalExpression "validateRuntimeInfo config.nixosInstaller.runtimeInfo";
      description = "runtime-info after validation (throws with every problem at once).";
    };

    pool = mkOption {
      type = types.strMatching "[A-Za-z][A-Za-z0-9_.:-]*";
      default = "rpool";
      description = ''
        Name of the encrypted ZFS pool. Must match `do-install --pool` (whose
        default is also rpool): the installer creates the pool, this
        module only describes it.
      '';
    };

    authorizedKeys = mkOption {
      type = types.listOf types.singleLineStr;
      default = [ ];
      example = [ "ssh-ed25519 AAAAC3Nza… admin@example" ];
      description = ''
        SSH public keys allowed to log in as root on the installed system and in
        the initrd (to unlock), one authorized_keys line each: any key type
        sshd accepts (ed25519, RSA, ECDSA, FIDO `sk-`), options such as
        `from="10.0.0.0/8"` allowed. `lib.mkHost` fills it from the host
        flake's `authorized_keys` file.
      '';
    };

    sshHostKey = mkOption {
      type = types.str;
      default = "/persist/etc/ssh/ssh_host_ed25519_key";
      description = ''
        Private ed25519 host key of the installed system. do-install generates it
        on the target; the chain pins its public half. It lives on the persistent
        dataset so that impermanence does not roll it away.
      '';
    };
  };

  config = lib.mkIf (cfg.runtimeInfo != null) {
    assertions =
      let bad = builtins.filter (k: !nixLib.isAuthorizedKeyLine k) cfg.authorizedKeys; in
      [
        {
          assertion = cfg.authorizedKeys != [ ];
          message = "nixosInstaller.authorizedKeys is empty: put at least one public key into the host flake's authorized_keys file, or nobody can log in or unlock the disk.";
        }
        {
          assertion = bad == [ ];
          message = "nixosInstaller.authorizedKeys must hold OpenSSH authorized_keys lines (optional sshd options, then a key of type ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-nistp256@openssh.com, base64, comment); fix or remove: ${builtins.concatStringsSep "; " bad}";
        }
      ];
  };
}
