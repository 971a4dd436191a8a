/**
 * Checks of Hetzner Cloud inputs (addresses, CIDRs, names, labels) used by
 * HcloudNixosServer; the messages themselves are collected by lib/validation.ts.
 */

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
