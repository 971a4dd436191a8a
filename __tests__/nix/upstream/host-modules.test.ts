/**
 * Issue 11, test 15: nixosModules.host evaluated by nixpkgs' real lib.evalModules with
 * disko's and impermanence's real modules, for every runtime-info fixture, with and
 * without impermanence. Options only nixpkgs declares are stand-ins
 * (./stand-ins.nix says which, and what of grub.nix it restates).
 */
import * as fs from "fs";
import * as path from "path";
import { describeWithUpstream, evalNix, FIXTURES, fixtureNames, ROOT, UPSTREAM } from "./upstream";

const EVAL = path.join(__dirname, "eval-host.nix");

interface Host {
  failedAssertions: string[];
  fileSystems: Record<string, { device: string; fsType: string; options: string[]; neededForBoot: boolean }>;
  grub: {
    devices: string[];
    efiSupport: boolean;
    efiInstallAsRemovable: boolean;
    configurationLimit: number;
    mirroredBoots: { path: string; devices: string[]; efiSysMountPoint: string | null }[];
  };
  efi: { canTouchEfiVariables: boolean; efiSysMountPoint: string };
  kernelParams: string[];
  networks: Record<string, unknown>;
  initrdNetworks: Record<string, unknown>;
  hostId: string;
  etcNixos: string | null;
  persistence: { directories: string[]; files: string[] } | null;
  persistedPathsFile: string | null;
  rollback: string | null;
  initrdExtraBin: string[];
}

interface RuntimeInfo {
  hostName: string;
  system: string;
  disks: { path: string }[];
  hoster: { kind: string };
}

function host(fixture: string, opts: { impermanence?: boolean; importImpermanenceModule?: boolean } = {}): Host {
  const { diskoCreate: _, ...rest } = evalNix<Host & { diskoCreate: string }>(EVAL, {
    upstream: UPSTREAM,
    runtimeInfo: path.join(FIXTURES, fixture),
    impermanence: String(opts.impermanence ?? false),
    importImpermanenceModule: String(opts.importImpermanenceModule ?? false),
  });
  return rest;
}

/** What nix/lib (builtins only) derives from the same runtime-info: the module must agree. */
function pure<T>(attr: string, fixture: string): T {
  return evalNix<T>(path.join(ROOT, "nix", "tests", "eval-host.nix"), {}, attr, { runtimeInfo: path.join(FIXTURES, fixture) });
}

describeWithUpstream("nixosModules.host through nixpkgs' lib.evalModules, real disko and impermanence (issue 11 test 15)", () => {
  describe.each(fixtureNames.flatMap((f) => [[f, false], [f, true]] as const))("%s, impermanence %s", (fixture, impermanence) => {
    const ri = JSON.parse(fs.readFileSync(path.join(FIXTURES, fixture), "utf8")) as RuntimeInfo;
    let h: Host;
    beforeAll(() => {
      h = host(fixture, { impermanence });
    });

    test("evaluates with no failed assertion (ours, disko's, impermanence's, grub.nix's restated)", () => {
      expect(h.failedAssertions).toEqual([]);
    });

    test("mounts the datasets and one ESP a disk (nofail), /persist needed for boot", () => {
      const esps = Object.fromEntries(ri.disks.map((_, i) => [i === 0 ? "/boot" : `/boot-${i}`, { device: `/dev/disk/by-partlabel/disk-disk${i}-esp`, fsType: "vfat", options: ["umask=0077", "nofail"], neededForBoot: false }]));
      expect(h.fileSystems).toEqual({
        "/": { device: "rpool/local/root", fsType: "zfs", options: ["defaults"], neededForBoot: false },
        "/nix": { device: "rpool/local/nix", fsType: "zfs", options: ["defaults"], neededForBoot: false },
        "/persist": { device: "rpool/safe/persist", fsType: "zfs", options: ["defaults"], neededForBoot: true },
        "/home": { device: "rpool/safe/home", fsType: "zfs", options: ["defaults"], neededForBoot: false },
        ...esps,
      });
    });

    test("GRUB goes to every disk's ESP, with the BIOS stage on x86_64 only, and keeps 8 generations", () => {
      const bios = (d: { path: string }) => (ri.system === "x86_64-linux" ? d.path : "nodev");
      expect(h.grub.devices).toEqual([bios(ri.disks[0])]);
      const byPath = [...h.grub.mirroredBoots].sort((a, b) => a.path.localeCompare(b.path));
      expect(byPath).toEqual(ri.disks.map((d, i) => ({ path: i === 0 ? "/boot" : `/boot-${i}`, devices: [bios(d)], efiSysMountPoint: i === 0 ? "/boot" : `/boot-${i}` })));
      expect(h.grub).toMatchObject({ efiSupport: true, efiInstallAsRemovable: true, configurationLimit: 8 });
      expect(h.efi).toEqual({ canTouchEfiVariables: false, efiSysMountPoint: "/boot" });
    });

    test("Hetzner Cloud servers log to the serial port of their architecture", () => {
      const serial = ri.system === "aarch64-linux" ? "ttyAMA0" : "ttyS0";
      expect(h.kernelParams).toEqual(ri.hoster.kind === "hcloud" ? [`console=${serial},115200`, "console=tty0"] : []);
    });

    test("networkd and the initrd get the networks of nix/lib's networkdNetworks, the host id its hash", () => {
      expect(h.networks).toEqual(pure("networks", fixture));
      expect(h.initrdNetworks).toEqual(h.networks);
      expect(h.hostId).toEqual(pure("hostId", fixture));
      expect(h.initrdExtraBin).toEqual(["systemd-reply-password", "unlock"]);
    });

    test("/etc/nixos is the flake on /persist; with impermanence, what is kept is listed for do-install", () => {
      expect(h.etcNixos).toBe("/persist/etc/nixos");
      if (!impermanence) {
        expect(h.persistence).toBeNull();
        expect(h.persistedPathsFile).toBeNull();
        expect(h.rollback).toBeNull();
        return;
      }
      expect(h.persistence).toEqual({ directories: ["/var/log", "/var/lib/nixos", "/var/lib/systemd"], files: ["/etc/machine-id"] });
      expect(h.persistedPathsFile).toBe("/var/log\n/var/lib/nixos\n/var/lib/systemd\n/etc/machine-id\n");
      expect(h.rollback).toMatch(/\/sbin\/zfs rollback -r rpool\/local\/root@blank$/);
    });
  });

  test("nixosModules.host and nixosModules.impermanence together declare environment.persistence once", () => {
    const both = host(fixtureNames[0], { impermanence: true, importImpermanenceModule: true });
    expect(both.failedAssertions).toEqual([]);
    expect(both.persistence?.directories).toContain("/var/lib/nixos");
  });
});
