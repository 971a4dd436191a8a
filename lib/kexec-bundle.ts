import * as fs from "fs";
import * as path from "path";
import { PropErrors } from "./prop-errors";

/** The Nix systems a kexec bundle can be built for. */
export type NixSystem = "x86_64-linux" | "aarch64-linux";
export const NIX_SYSTEMS: readonly NixSystem[] = ["x86_64-linux", "aarch64-linux"];

export type KexecBundleKind = "flake" | "path" | "url";

export interface KexecBundleFromFlakeOptions {
  /** Flake reference, e.g. `github:cdktf-nixos-installer/cdktf-nixos-installer` or a path. */
  readonly flake: string;
  /** System of the target hosts. */
  readonly system: NixSystem;
}

export interface KexecBundleFromUrlOptions {
  /** https (or http) URL of a `kexec-tarball` output (a .tar.gz holding `kexec/`). */
  readonly url: string;
  /** sha256 of the tarball, 64 hex characters: the host refuses anything else. */
  readonly sha256: string;
  /** System the tarball was built for. */
  readonly system: NixSystem;
}

export interface KexecBundleFromPathOptions {
  /**
   * System the bundle was built for.
   * @default - read from the bundle's manifest.json at synth time
   */
  readonly system?: NixSystem;
}

/**
 * The NixOS installer that the host kexecs into: a directory holding `kernel`,
 * `initrd`, `cmdline` and `manifest.json` (the output of `nix build .#kexec`).
 */
export class KexecBundle {
  /**
   * Built with `nix build` on the deploy machine when the kexec phase runs (never at
   * plan time), then uploaded to the host. The deploy machine needs Nix.
   */
  static fromFlake(options: KexecBundleFromFlakeOptions): KexecBundle {
    const ref = options.flake.includes("#") ? options.flake : `${options.flake}#packages.${options.system}.kexec`;
    return new KexecBundle("flake", options.system, { flake: ref });
  }

  /** A bundle directory on the deploy machine, uploaded to the host over SSH. */
  static fromPath(dir: string, options: KexecBundleFromPathOptions = {}): KexecBundle {
    return new KexecBundle("path", options.system ?? readManifestSystem(dir), { dir });
  }

  /**
   * A tarball the host downloads itself and checks against `sha256`, so the deploy
   * machine sends only kilobytes.
   */
  static fromUrl(options: KexecBundleFromUrlOptions): KexecBundle {
    return new KexecBundle("url", options.system, { url: options.url, sha256: options.sha256 });
  }

  private constructor(
    /** `flake`, `path` or `url`. */
    public readonly kind: KexecBundleKind,
    /** The Nix system the bundle is for (`x86_64-linux`, `aarch64-linux`). */
    public readonly system: NixSystem | string,
    private readonly where: { flake?: string; dir?: string; url?: string; sha256?: string },
  ) {}

  /** Flake output reference (kind "flake"). */
  get flake(): string | undefined {
    return this.where.flake;
  }
  /** Directory (kind "path"). */
  get dir(): string | undefined {
    return this.where.dir;
  }
  /** URL (kind "url"). */
  get url(): string | undefined {
    return this.where.url;
  }
  /** Expected sha256 (kind "url"). */
  get sha256(): string | undefined {
    return this.where.sha256;
  }

  /** @internal */
  _validate(errors: PropErrors, prop: string): void {
    errors.check(NIX_SYSTEMS.includes(this.system as NixSystem), `${prop}.system`, `be one of ${NIX_SYSTEMS.join(", ")}`, this.system);
    switch (this.kind) {
      case "flake":
        errors.check(/^[^\s'"`$\\]+$/.test(this.where.flake ?? ""), `${prop}.flake`, "be a flake reference without spaces or quotes", this.where.flake);
        break;
      case "path":
        errors.check(!!this.where.dir && !/[\n\0'"`$\\]/.test(this.where.dir), `${prop}.dir`, "be a directory path without quotes", this.where.dir);
        break;
      case "url":
        errors.check(/^https?:\/\/[^\s'"`$\\]+$/.test(this.where.url ?? ""), `${prop}.url`, "be an http(s) URL without spaces or quotes", this.where.url);
        errors.check(/^[0-9a-f]{64}$/.test(this.where.sha256 ?? ""), `${prop}.sha256`, "be the tarball's sha256 (64 lowercase hex characters)", this.where.sha256);
        break;
    }
  }
}

function readManifestSystem(dir: string): string {
  const file = path.join(dir, "manifest.json");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (cause) {
    throw new Error(`KexecBundle.fromPath: cannot read ${file} to learn the bundle's system; pass { system } or build the bundle first (nix build .#kexec)`, { cause });
  }
  const system = (JSON.parse(text) as { system?: unknown }).system;
  if (typeof system !== "string") {
    throw new Error(`KexecBundle.fromPath: ${file} has no "system"; pass { system } explicitly`);
  }
  return system;
}
