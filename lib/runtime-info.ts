import * as fs from "fs";
import Ajv2020 from "ajv/dist/2020";
import { packageFiles } from "./package-files";

/** One disk of runtime-info. */
export interface RuntimeInfoDisk {
  /** Stable path (`/dev/disk/by-id/…`). */
  readonly path: string;
  /** Kernel name (`sda`, `nvme0n1`). */
  readonly kernelName: string;
  readonly sizeBytes: number;
}

/** One network interface of runtime-info. */
export interface RuntimeInfoInterface {
  readonly name: string;
  readonly mac: string;
  readonly mtu: number;
  /** Addresses in CIDR form. */
  readonly addresses: string[];
  readonly gateways: string[];
}

/** What Terraform knew about the machine (`kind` "generic" or "hcloud"). */
export interface RuntimeInfoHoster {
  readonly kind: string;
  /** @default - none (generic) */
  readonly serverId?: number;
  /** @default - none (generic) */
  readonly location?: string;
  /** @default - none (generic) */
  readonly serverType?: string;
  /** @default - none */
  readonly ipv6Network?: string;
  /** @default - none */
  readonly privateIps?: string[];
}

/** runtime-info.json version 1 (schema/runtime-info.v1.schema.json). */
export interface RuntimeInfo {
  /** Always 1. */
  readonly version: number;
  readonly hostName: string;
  /** `x86_64-linux` or `aarch64-linux`. */
  readonly system: string;
  /** `bios` or `uefi`. */
  readonly bootMode: string;
  readonly memoryMiB: number;
  readonly disks: RuntimeInfoDisk[];
  readonly interfaces: RuntimeInfoInterface[];
  readonly nameservers: string[];
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
