// Shared by the network tests: the installed system's networks (nix/lib), how NixOS writes
// them as unit files, a parser for what a script wrote, and a PATH of one environment.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { listedCommands } from "../../lab/vm/vm-lab";

const repo = path.resolve(__dirname, "..", "..");

export type Network = {
  matchConfig?: Record<string, unknown>;
  linkConfig?: Record<string, unknown>;
  networkConfig?: Record<string, unknown>;
  dhcpV4Config?: Record<string, unknown>;
  address?: string[];
  dns?: string[];
  routes?: Record<string, unknown>[];
};
export type Sections = [string, Record<string, string[]>][];

/** A directory holding one link for each command the environment's list names that this machine has. */
export function commandDir(env: "initrd" | "installer", tmp: string): string {
  const dir = fs.mkdtempSync(path.join(tmp, `${env}-bin-`));
  const link = 'for n in "$@"; do p=$(type -P -- "$n") && ln -s "$p" "$0/$n"; done; true';
  execFileSync("bash", ["-c", link, dir, ...listedCommands(env)]);
  return dir;
}

/** The networks nix/lib gives the installed system for this runtime-info. */
export function networksOf(file: string): Record<string, Network> {
  return JSON.parse(execFileSync("nix-instantiate", ["--eval", "--strict", "--json", "-E", `(import ${repo}/nix/lib).networkdNetworks ((import ${repo}/nix/lib).readRuntimeInfo ${file})`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
}

// NixOS's rendering: a value true/false or its string, a list as one line a value
const option = (v: unknown) => (v === true ? "true" : v === false ? "false" : String(v));
const section = (attrs: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, (Array.isArray(v) ? v : [v]).map(option)]));

/** The sections networkd.nix's networkToUnit writes for one network, in its order. */
export function asNixosWritesIt(n: Network): Sections {
  const network = { ...(n.networkConfig ?? {}), ...(n.address?.length ? { Address: n.address } : {}), ...(n.dns?.length ? { DNS: n.dns } : {}) };
  const out: Sections = [];
  for (const [name, attrs] of [["Match", n.matchConfig], ["Link", n.linkConfig], ["Network", network], ["DHCPv4", n.dhcpV4Config]] as const) {
    if (attrs && Object.keys(attrs).length > 0) out.push([name, section(attrs)]);
  }
  for (const r of n.routes ?? []) out.push(["Route", section(r)]);
  return out;
}

export function parseUnit(text: string): Sections {
  const out: Sections = [];
  for (const line of text.split("\n").filter(Boolean)) {
    const head = /^\[(\w+)\]$/.exec(line);
    if (head) out.push([head[1], {}]);
    else {
      const [k, ...v] = line.split("=");
      ((out[out.length - 1][1][k] ??= []) as string[]).push(v.join("="));
    }
  }
  return out;
}

