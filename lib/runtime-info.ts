import * as fs from "fs";
import Ajv2020 from "ajv/dist/2020";
import { packageFiles } from "./package-files";

/** One disk of runtime-info. */
export interface RuntimeInfoDisk {
  /** Stable path (`/dev/disk/by-id/…`). */
  readonly path: string;
  /** Kernel name (`sda`, `nvme0n1`). */
  readonly kernelName: string;
  /** Size in bytes. */
  readonly sizeBytes: number;
  /** The base system's root filesystem was on this disk at probe time (wipe "base-system" may replace it). @default false */
  readonly holdsBaseSystem?: boolean;
}

/** One network interface of runtime-info. */
export interface RuntimeInfoInterface {
  /** Kernel name on the base system (`eth0`, `enp1s0`). */
  readonly name: string;
  /** MAC address: the installed system matches the interface by it. */
  readonly mac: string;
  /** MTU in bytes. */
  readonly mtu: number;
  /** Addresses in CIDR form. */
  readonly addresses: string[];
  /** Default gateways (IPv4 and IPv6). */
  readonly gateways: string[];
}

/** What Terraform knew about the machine (`kind` "generic" or "hcloud"). */
export interface RuntimeInfoHoster {
  /** `generic` or `hcloud`. */
  readonly kind: string;
  /** Hetzner Cloud server id. @default - none (generic) */
  readonly serverId?: number;
  /** Hetzner location. @default - none (generic) */
  readonly location?: string;
  /** Hetzner server type. @default - none (generic) */
  readonly serverType?: string;
  /** The server's IPv6 /64. @default - none */
  readonly ipv6Network?: string;
  /** Fixed and alias IPs on private networks. @default - none */
  readonly privateIps?: string[];
}

/** runtime-info.json version 1 (schema/runtime-info.v1.schema.json). */
export interface RuntimeInfo {
  /** Always 1. */
  readonly version: number;
  /** Host name of the installed system. */
  readonly hostName: string;
  /** `x86_64-linux` or `aarch64-linux`. */
  readonly system: string;
  /** `bios` or `uefi`. */
  readonly bootMode: string;
  /** Memory of the base system in MiB. */
  readonly memoryMiB: number;
  /** The disks the probe saw. */
  readonly disks: RuntimeInfoDisk[];
  /** Physical network interfaces with their addresses. */
  readonly interfaces: RuntimeInfoInterface[];
  /** DNS servers of the base system. */
  readonly nameservers: string[];
  /** What Terraform knew about the machine. */
  readonly hoster: RuntimeInfoHoster;
}

let validator: ReturnType<Ajv2020["compile"]> | undefined;

/** Validates a parsed runtime-info document; throws naming every failing field. */
export function parseRuntimeInfo(data: unknown, source = "runtime-info"): RuntimeInfo {
  if (data && typeof data === "object" && "version" in data && (data as { version: unknown }).version !== 1) {
    throw new Error(`${source}: \`version\` must be 1, got: \`${JSON.stringify((data as { version: unknown }).version)}\` (this release reads runtime-info version 1 only)`);
  }
  validator ??= new Ajv2020({ allErrors: true, strict: true }).compile(JSON.parse(fs.readFileSync(packageFiles.runtimeInfoSchema(), "utf8")));
  if (!validator(data)) {
    const lines = (validator.errors ?? []).map((e) => `  - \`${e.instancePath || "/"}\` ${e.message}${e.params && "allowedValues" in e.params ? ` (${(e.params.allowedValues as unknown[]).join(", ")})` : ""}`);
    throw new Error(`${source} is not valid runtime-info v1:\n${lines.join("\n")}`);
  }
  return data as RuntimeInfo;
}

/** Reads and validates a runtime-info.json file (for example hosts/NAME/runtime-info.json). */
export function readRuntimeInfo(file: string): RuntimeInfo {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (cause) {
    throw new Error(`${file}: cannot read it as JSON; it is written by the chain's probe and verify phases`, { cause });
  }
  return parseRuntimeInfo(data, file);
}
