/**
 * Checks of Hetzner Cloud inputs used by HcloudNixosServer: addresses, CIDRs, names and
 * labels at synth, and the server type as the API describes it at plan time (Terraform
 * preconditions over `data "hcloud_server_type"`).
 */
import { Fn, FOR_EXPRESSION_VALUE, forExpression, Op, Postcondition, propertyAccess, ref, Token } from "cdktf";

/** A fully qualified domain name for a PTR record (labels of a-z, 0-9, '-', at most 253 characters). */
export function isFqdn(value: string): boolean {
  const name = value.endsWith(".") ? value.slice(0, -1) : value;
  return name.length <= 253 && name.includes(".") && name.split(".").every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(l));
}

/** Parses dotted IPv4 into a 32-bit unsigned number, or undefined. */
export function parseIpv4(value: string): number | undefined {
  const parts = value.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined;
    n = n * 256 + Number(part);
  }
  return n;
}

/** Parses IPv6 (with `::`, optionally an embedded IPv4 tail) into a 128-bit bigint, or undefined. */
export function parseIpv6(value: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(value) || !value.includes(":")) return undefined;
  let text = value;
  const tail: string[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail.push((v4 >>> 16).toString(16), (v4 & 0xffff).toString(16));
    text = text.slice(0, lastColon + 1) + "0"; // placeholder group, replaced below
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  let head = groups(halves[0]);
  let rest = halves.length === 2 ? groups(halves[1]) : [];
  if (tail.length) {
    if (halves.length === 2 && rest.length) rest = [...rest.slice(0, -1), ...tail];
    else head = [...head.slice(0, -1), ...tail];
  }
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const all = [...head, ...Array(8 - total).fill("0"), ...rest];
  let n = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return n;
}

export interface Cidr {
  version: 4 | 6;
  /** Address as an unsigned integer (bigint for both families). */
  address: bigint;
  prefix: number;
}

/** Parses `a.b.c.d/n` or `x:y::/n`; undefined when it is neither. */
export function parseCidr(value: string): Cidr | undefined {
  const m = /^([^/]+)\/([0-9]{1,3})$/.exec(value);
  if (!m || (m[2].length > 1 && m[2].startsWith("0"))) return undefined;
  const prefix = Number(m[2]);
  const v4 = parseIpv4(m[1]);
  if (v4 !== undefined) return prefix <= 32 ? { version: 4, address: BigInt(v4), prefix } : undefined;
  const v6 = parseIpv6(m[1]);
  if (v6 !== undefined) return prefix <= 128 ? { version: 6, address: v6, prefix } : undefined;
  return undefined;
}

function hostMask(c: Cidr): bigint {
  const bits = BigInt(c.version === 4 ? 32 : 128);
  return (1n << (bits - BigInt(c.prefix))) - 1n;
}

/** True when no bit below the prefix is set (`10.0.1.0/24`, not `10.0.1.5/24`). */
export function isNetworkAddress(c: Cidr): boolean {
  return (c.address & hostMask(c)) === 0n;
}

/** The CIDR written with its host bits cleared, for "did you mean" hints. */
export function networkOf(c: Cidr): string {
  const base = c.address & ~hostMask(c);
  if (c.version === 4) {
    const n = Number(base);
    return `${[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".")}/${c.prefix}`;
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((base >> BigInt(i * 16)) & 0xffffn).toString(16));
  return `${groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::")}/${c.prefix}`;
}

/** True when the IPv4 range lies inside `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.version !== inner.version || inner.prefix < outer.prefix) return false;
  return (inner.address & ~hostMask(outer)) === (outer.address & ~hostMask(outer));
}

/** RFC 1918 ranges: the only ones Hetzner Cloud accepts for private networks. */
export const PRIVATE_IPV4_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map((r) => parseCidr(r) as Cidr);

/** Hetzner Cloud label keys: optional DNS-subdomain prefix and '/', then a name of at most 63 characters. */
export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf("/");
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  if (prefix !== undefined && (prefix.length > 253 || !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(prefix))) return false;
  return /^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$/.test(name);
}

/** Hetzner Cloud label values: empty, or at most 63 of a-z A-Z 0-9 . _ - starting and ending alphanumeric. */
export function isLabelValue(value: string): boolean {
  return value === "" || /^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$/.test(value);
}

/** Hetzner's name for the CPU architecture of a Nix system (`architecture` of server types and images). */
export function hcloudArchitecture(system: string): "x86" | "arm" {
  return system === "aarch64-linux" ? "arm" : "x86";
}

/** Current server types to suggest, by architecture (Hetzner's line-up since October 2025). */
const SUGGESTED_TYPES: Record<"x86" | "arm", string> = { x86: "cx23, cpx22 or ccx13", arm: "cax11 or cax21" };

/** Estimated size of kernel + initrd of the x86_64 installer (docs/decisions/nix-installer-image-size.md: 160–220 MB store squashfs, plus kernel and stage 1). */
export const INSTALLER_BUNDLE_MIB = 250;

/**
 * MemAvailable run-installer demands before it kexecs a bundle of `bundleMiB` (kernel +
 * initrd): kexec holds both in RAM and the installer unpacks the initrd into a tmpfs,
 * so 2.5 times the bundle plus 512 MiB for the running installer. The same rule as
 * run-installer's check_memory (a test runs both).
 */
export function kexecMemoryMiB(bundleMiB: number): number {
  return Math.floor((Math.ceil(bundleMiB) * 5) / 2) + 512;
}

/** What a Debian base image keeps of a server's nominal memory (kernel, firmware reservations, services): about 0.6 GiB. */
export const BASE_SYSTEM_MIB = 640;

/**
 * The least memory (GB, as Hetzner states it) a server type must have: run-installer's
 * rule for the installer's estimated size, plus what the base system keeps, rounded up:
 * (250 × 2.5 + 512 + 640) MiB → 2 GB. 1 GB servers run out of memory in the installer
 * (nixos-anywhere issue 609).
 */
export const HCLOUD_MIN_MEMORY_GB = Math.ceil((kexecMemoryMiB(INSTALLER_BUNDLE_MIB) + BASE_SYSTEM_MIB) / 1024);

/** Options of serverTypeConditions. */
export interface ServerTypeChecks {
  /** The bundle's Nix system: the type's architecture must match it. */
  readonly system: string;
  /** The location the server is created in. */
  readonly location: string;
  /** Date (YYYY-MM-DD, UTC midnight): a type deprecated in the location passes when it stays orderable after it. Undefined: no deprecated type passes. */
  readonly usableUntil?: string;
  /** Check deprecation and the location (false for a server whose type Hetzner has since retired). */
  readonly availability: boolean;
}

/**
 * Terraform conditions over a `data "hcloud_server_type"`, written as postconditions of
 * that data source (its attributes through `self`): Terraform checks them when it reads
 * the type while planning, before anything is created. Each message names the type, what
 * the API says about it and what to pick instead.
 */
export function serverTypeConditions(o: ServerTypeChecks): Postcondition[] {
  const type = {
    name: Token.asString(ref("self.name")),
    architecture: Token.asString(ref("self.architecture")),
    memory: Token.asNumber(ref("self.memory")),
    locations: ref("self.locations") as unknown as string[],
  };
  const want = hcloudArchitecture(o.system);
  const other = want === "x86" ? "arm" : "x86";
  const otherSystem = want === "x86" ? "aarch64-linux" : "x86_64-linux";
  const locations = type.locations;
  const field = (name: string) => propertyAccess(FOR_EXPRESSION_VALUE, [name]);
  const here = Op.eq(field("name"), o.location);
  // The entry of this location, as the list the expression sees ([] when not offered).
  const inHere = (name: string) => Fn.join("", forExpression(locations, Fn.conditional(here, field(name), "") as never) as never);
  const offeredIn = Fn.join(", ", forExpression(locations, field("name")) as never);
  const preconditions: Postcondition[] = [
    {
      condition: Op.eq(type.architecture, want),
      errorMessage:
        `server type ${type.name} is ${type.architecture}, but the kexec bundle is built for ${o.system}: ` +
        `pick an ${want} type (${SUGGESTED_TYPES[want]}), or build the bundle for ${otherSystem} to keep an ${other} type`,
    },
    {
      condition: Op.gte(type.memory, HCLOUD_MIN_MEMORY_GB),
      errorMessage:
        `server type ${type.name} has ${type.memory} GB of memory, the installer needs at least ${HCLOUD_MIN_MEMORY_GB} GB ` +
        `(kexec keeps kernel and initrd in RAM: run-installer wants 2.5 times their ~${INSTALLER_BUNDLE_MIB} MiB plus 512 MiB available, ` +
        `and the base system keeps ~${BASE_SYSTEM_MIB} MiB): pick a type with ${HCLOUD_MIN_MEMORY_GB} GB or more (${SUGGESTED_TYPES[want]})`,
    },
  ];
  if (!o.availability) return preconditions;
  preconditions.push({
    condition: Fn.contains(forExpression(locations, field("name")) as never, o.location),
    errorMessage: `server type ${type.name} is not offered in ${o.location} (Hetzner offers it in: ${offeredIn}): pick one of those locations, or a type offered in ${o.location}`,
  });
  const deprecatedHere = Fn.anytrue(forExpression(locations, Op.and(here, Op.eq(field("is_deprecated"), true))) as never);
  // Orderable after the given date; an empty or unreadable date counts as not orderable.
  const orderableAfter = (until: string) =>
    Fn.anytrue(forExpression(locations, Op.and(here, Fn.try([/* timecmp: -1, 0 or 1; a literal 0 would be lost by Op */ Op.eq(Fn.timecmp(Token.asString(field("unavailable_after")), `${until}T00:00:00Z`), 1), false]))) as never);
  preconditions.push({
    condition: o.usableUntil === undefined ? Op.not(deprecatedHere) : Op.or(Op.not(deprecatedHere), orderableAfter(o.usableUntil)),
    errorMessage:
      `server type ${type.name} is deprecated in ${o.location} and can be ordered there only until ${inHere("unavailable_after")}` +
      (o.usableUntil === undefined ? "" : `, not after ${o.usableUntil} (serverTypeUsableUntil)`) +
      `: pick a current type (${SUGGESTED_TYPES[want]}); to keep it until a date, set serverTypeUsableUntil to a date before that one; ` +
      `for a server that already runs on it, set checkServerTypeAvailability: false`,
  });
  return preconditions;
}
