{
  description = "cdktf-nixos-installer: kexec installer, installed-host modules and host template for NixOS on encrypted ZFS";

  # No flake.lock is committed yet: the first `nix build` / `nix flake lock`
  # writes it (see docs/nix.md).
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    disko = {
      url = "github:nix-community/disko";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    impermanence = {
      url = "github:nix-community/impermanence";
      inputs.nixpkgs.follows = "nixpkgs";
      # its flake uses home-manager only for its own checks; "" makes the input point
      # at nothing this flake fetches (the documented way to drop an input)
      inputs.home-manager.follows = "";
    };
  };

  outputs = { self, nixpkgs, disko, impermanence }:
    let
      inherit (nixpkgs) lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
      nixLib = import ./nix/lib;

      installerFor = system: extraModules: lib.nixosSystem {
        modules = [
          self.nixosModules.installer
          { nixpkgs.hostPlatform = system; }
        ] ++ extraModules;
      };
      kexecFor = system: pkgs: extraModules:
        import ./nix/packages/kexec-bundle.nix { inherit pkgs; installer = installerFor system extraModules; };

      # runtime-info (path or attrset) + authorized keys (path or list) + modules
      # -> a NixOS system.
      mkHost = { runtimeInfo, authorizedKeys ? [ ], modules ? [ ] }:
        let
          ri = nixLib.readRuntimeInfo runtimeInfo;
          keys =
            if builtins.isList authorizedKeys then authorizedKeys
            else nixLib.parseAuthorizedKeys (builtins.readFile authorizedKeys);
        in
        lib.nixosSystem {
          modules = [
            self.nixosModules.host
            {
              nixpkgs.hostPlatform = lib.mkDefault ri.system;
              nixosInstaller.runtimeInfo = ri;
              nixosInstaller.authorizedKeys = keys;
            }
          ] ++ modules;
        };

      # hosts/ directory (hosts/NAME/runtime-info.json, optional
      # hosts/NAME/authorized_keys, optional hosts/NAME/configuration.nix)
      # -> nixosConfigurations.
      mkHosts = { hostsDir, authorizedKeys ? [ ], modules ? [ ] }:
        let
          entries = builtins.readDir hostsDir;
          names = builtins.filter
            (n: entries.${n} == "directory" && builtins.pathExists (hostsDir + "/${n}/runtime-info.json"))
            (builtins.attrNames entries);
          one = name:
            let
              dir = hostsDir + "/${name}";
              ri = nixLib.readRuntimeInfo (dir + "/runtime-info.json");
              own = dir + "/authorized_keys";
              hostConfig = dir + "/configuration.nix";
            in
            if ri.hostName != name then
              throw "mkHosts: ${toString dir}/runtime-info.json says hostName ${ri.hostName}; rename the directory to hosts/${ri.hostName}"
            else
              mkHost {
                runtimeInfo = ri;
                authorizedKeys = if builtins.pathExists own then own else authorizedKeys;
                modules = modules ++ lib.optional (builtins.pathExists hostConfig) hostConfig;
              };
        in
        lib.genAttrs names one;
    in
    {
      lib = nixLib // { inherit mkHost mkHosts; };

      nixosModules = import ./nix/modules/flake-modules.nix {
        inherit disko impermanence;
        # what the installer carries and locks the host flake to (names as the
        # template's inputs and our flake.nix call them)
        sources = { cdktf-nixos-installer = self; inherit nixpkgs disko impermanence; };
      };

      packages = forSystems (system: pkgs:
        let
          kexec = kexecFor system pkgs [ ];
        in
        {
          inherit kexec;
          kexec-tarball = import ./nix/packages/kexec-tarball.nix { inherit pkgs; bundle = kexec; };
          default = kexec;
        } // import ./nix/packages/installer-scripts.nix { inherit pkgs; });

      templates.host = {
        path = ./nix/templates/host;
        description = "A host flake: runtime-info.json + authorized_keys -> nixosConfigurations.HOST";
      };
      templates.default = self.templates.host;

      checks = forSystems (system: pkgs:
        {
          # pure functions against the fixtures (the same cases as `npm test`)
          lib = import ./nix/checks/lib.nix { inherit pkgs; };
          # every target-side script passes shellcheck
          installer-scripts = pkgs.linkFarmFromDrvs "installer-scripts"
            (builtins.attrValues (import ./nix/packages/installer-scripts.nix { inherit pkgs; }));
          # the installed host of every fixture of this system evaluates
          hosts = import ./nix/checks/hosts.nix { inherit pkgs mkHost system; };
        }
        // lib.optionalAttrs (system == "x86_64-linux") {
          vm-install = import ./nix/checks/vm-install.nix {
            inherit pkgs mkHost;
            mkKexec = kexecFor system pkgs;
          };
        });

      devShells = forSystems (system: pkgs:
        let
          # terraform is BSL-licensed (unfree in nixpkgs): allowed for this one package
          unfree = import nixpkgs {
            inherit system;
            config.allowUnfreePredicate = p: lib.getName p == "terraform";
          };
        in
        {
          default = pkgs.mkShell {
            packages = [ unfree.terraform pkgs.nodejs pkgs.openssh pkgs.jq ];
          };
        });
    };
}
