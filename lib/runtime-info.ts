import * as fs from "fs";
import Ajv2020 from "ajv/dist/2020";
import { packageFiles } from "./package-files";

/** runtime-info.json version 1 (schema/runtime-info.v1.schema.json). */
export interface RuntimeInfo {
  readonly version: 1;
  readonly hostName: string;
  readonly system: "x86_64-linux" | "aarch64-linux";
  readonly bootMode: "bios" | "uefi";
  readonly memoryMiB: number;
  readonly disks: ReadonlyArray<{
    readonly path: string;
    readonly kernelName: string;
    readonly sizeBytes: number;
    /** The base system's root filesystem was on this disk at probe time (wipe "base-system" may replace it). @default false */
    readonly holdsBaseSystem?: boolean;
  }>;
  readonly interfaces: ReadonlyArray<{
    readonly name: string;
    readonly mac: string;
    readonly mtu: number;
    readonly addresses: readonly string[];
    readonly gateways: readonly string[];
  }>;
  readonly nameservers: readonly string[];
  readonly hoster:
    | { readonly kind: "generic" }
    | {
        readonly kind: "hcloud";
        readonly serverId: number;
        readonly location: string;
        readonly serverType: string;
        readonly ipv6Network?: string;
        readonly privateIps?: readonly string[];
      };
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
