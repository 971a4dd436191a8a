// The server type and image as the Hetzner API describes them: data sources in the
// synthesized stack, and the plan-time checks (postconditions of the type's data
// source), evaluated by the real
// terraform (`terraform console`, no provider needed) with the values the API would give.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { KexecBundle } from "../../lib/kexec-bundle";
import { HCLOUD_MIN_MEMORY_GB, kexecMemoryMiB } from "../../lib/hcloud-validation";
import { TerraformStack, Testing } from "cdktf";
import { HcloudNixosServer, HcloudNixosServerProps } from "../../lib/hcloud-nixos-server";
import { baseProps, REPO_ROOT, serverTypeRead, synthServer, testApp } from "./helpers";

const ARM_BUNDLE = KexecBundle.fromUrl({ url: "https://example.org/kexec-aarch64.tar.gz", sha256: "b".repeat(64), system: "aarch64-linux" });

interface Location {
  name: string;
  is_deprecated: boolean;
  unavailable_after: string;
  deprecation_announced: string;
  id: number;
}
const at = (name: string, deprecated?: { announced: string; unavailableAfter: string }): Location => ({
  name,
  id: { fsn1: 1, nbg1: 2, hel1: 3, ash: 4, hil: 5, sin: 6 }[name] ?? 9,
  is_deprecated: deprecated !== undefined,
  deprecation_announced: deprecated?.announced ?? "",
  unavailable_after: deprecated?.unavailableAfter ?? "",
});
/** What `data "hcloud_server_type"` reads for a type (the attributes the checks use). */
const serverType = (name: string, architecture: string, memory: number, locations: Location[]) => ({ name, architecture, memory, cores: 2, locations });

const EU = ["fsn1", "nbg1", "hel1"];
const CX23 = serverType("cx23", "x86", 4, EU.map((l) => at(l)));
const CAX11 = serverType("cax11", "arm", 4, EU.map((l) => at(l)));
// A retired type as the API describes one (as it did the first cx line after October 2025):
// deprecated everywhere, orderable until a date.
const RETIRED = { announced: "2025-10-16T00:00:00Z", unavailableAfter: "2026-01-01T00:00:00Z" };
const CX_OLD = serverType("cx-old", "x86", 4, EU.map((l) => at(l, RETIRED)));

interface Check {
  passes: boolean;
  message: string;
}

/**
 * Evaluates the server type's postconditions with `terraform console`: the synthesized
 * condition and error_message strings go unchanged into locals of a JSON configuration
 * (the same template syntax as cdk.tf.json), the data source's address replaced by a
 * local holding `type`.
 */
function evaluate(props: Partial<HcloudNixosServerProps>, type: object): Check[] {
  const { doc, one } = synthServer(props);
  const preconditions = typeChecksOf(doc, one("hcloud_server"));
  const locals: Record<string, unknown> = { server_type: type };
  preconditions.forEach((p, i) => {
    locals[`condition_${i}`] = p.condition.split("self.").join("local.server_type.");
    locals[`message_${i}`] = p.error_message.split("self.").join("local.server_type.");
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ni-preconditions-"));
  try {
    fs.writeFileSync(path.join(dir, "main.tf.json"), JSON.stringify({ locals }));
    // One expression: console evaluates one input (a piped stdin is one multi-line input).
    const expression = `jsonencode([${preconditions.map((_, i) => `[local.condition_${i}, local.message_${i}]`).join(", ")}])`;
    const run = spawnSync("terraform", ["console"], { cwd: dir, input: `${expression}\n`, encoding: "utf8", env: { ...process.env, TF_CLI_CONFIG_FILE: "/dev/null" } });
    if (run.status !== 0 || run.stdout.includes("│")) throw new Error(`terraform console failed: ${run.stdout}${run.stderr}`);
    return (JSON.parse(JSON.parse(run.stdout)) as [boolean, string][]).map(([passes, message]) => ({ passes, message }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The postconditions of the server type's data source that `server` reads its type from. */
const typeChecksOf = (doc: any, server: { server_type: string }) => serverTypeRead(doc, server).lifecycle.postcondition;

/** The messages of the checks that fail. */
const failures = (props: Partial<HcloudNixosServerProps>, type: object) =>
  evaluate(props, type)
    .filter((c) => !c.passes)
    .map((c) => c.message);

describe("HcloudNixosServer reads the server type and the image from the Hetzner API", () => {
  it("reads `serverType` through data hcloud_server_type and creates the server with it", () => {
    const { doc, one } = synthServer({ serverType: "cpx22" });
    const [[id, data]] = Object.entries<any>(doc.data.hcloud_server_type);
    expect(data.name).toBe("cpx22");
    // Through the data source: the server waits for the type's checks.
    expect(one("hcloud_server").server_type).toBe(`\${data.hcloud_server_type.${id}.name}`);
  });

  it("resolves the image by name for the bundle's architecture, newest first, and boots the server from its id", () => {
    const x86 = synthServer();
    const [name] = Object.keys(x86.doc.data.hcloud_image);
    expect(x86.doc.data.hcloud_image[name]).toEqual({ name: "debian-13", with_architecture: "x86", most_recent: true });
    expect(x86.one("hcloud_server").image).toBe(`\${data.hcloud_image.${name}.id}`);
    const arm = synthServer({ serverType: "cax11", bundle: ARM_BUNDLE, image: "debian-12" });
    expect(Object.values(arm.doc.data.hcloud_image)).toEqual([{ name: "debian-12", with_architecture: "arm", most_recent: true }]);
    expect(arm.host.system).toBe("aarch64-linux");
  });

  it("reads each distinct type and image once a stack, and gives each server the checks of its own location", () => {
    const stack = new TerraformStack(testApp(), "fleet");
    const server = (name: string, props: Partial<HcloudNixosServerProps>) => new HcloudNixosServer(stack, name, { ...baseProps(), hostName: name, sshPublicKey: undefined, sshKeyIds: ["1"], ...props });
    server("web-1", { serverType: "cx23", location: "fsn1" });
    server("web-2", { serverType: "cx23", location: "fsn1" });
    server("web-3", { serverType: "cx23", location: "nbg1" });
    server("arm-1", { serverType: "cax11", location: "fsn1", bundle: ARM_BUNDLE });
    server("old-1", { serverType: "cx23", location: "fsn1", image: "debian-12" });
    const doc = JSON.parse(Testing.synth(stack));
    // cx23 checked for fsn1 and for nbg1, cax11 for fsn1: one read each, whatever the count of servers.
    expect(Object.values<any>(doc.data.hcloud_server_type).map((d) => d.name).sort()).toEqual(["cax11", "cx23", "cx23"]);
    expect(Object.values(doc.data.hcloud_image)).toHaveLength(3);
    const servers = doc.resource.hcloud_server;
    const of = (host: string) => Object.values<any>(servers).find((s) => s.name === host);
    // The same type, image and location: the same data sources, so the same checks.
    expect(of("web-2").image).toBe(of("web-1").image);
    expect(of("web-2").server_type).toBe(of("web-1").server_type);
    expect(of("web-1").lifecycle.precondition).toBeUndefined();
    // Another location: a read of its own, with that location's checks.
    expect(of("web-3").server_type).not.toBe(of("web-1").server_type);
    const conditions = (host: string) => typeChecksOf(doc, of(host)).map((p) => p.condition).join("\n");
    expect(conditions("web-3")).toContain('"nbg1"');
    expect(conditions("web-3")).not.toContain('"fsn1"');
    expect(conditions("web-1")).not.toContain('"nbg1"');
    expect(of("arm-1").image).not.toBe(of("web-1").image);
    expect(conditions("arm-1")).toContain('== "arm"');
    expect(of("old-1").image).not.toBe(of("web-1").image);
    expect(of("old-1").server_type).toBe(of("web-1").server_type);
  });

  it("takes a numeric `image` as an image id", () => {
    expect(Object.values(synthServer({ image: "114690387" }).doc.data.hcloud_image)).toEqual([{ id: 114690387 }]);
  });

  it("writes the checks into cdk.tf.json as postconditions of the type's data source, each with its message", () => {
    const { one, doc } = synthServer({ location: "nbg1" });
    const st = "self";
    const preconditions = typeChecksOf(doc, one("hcloud_server"));
    expect(preconditions.map((p: any) => p.condition)).toEqual([
      `\${(${st}.architecture == "x86")}`,
      `\${(${st}.memory >= 2)}`,
      `\${contains([ for key, val in ${st}.locations: val.name], "nbg1")}`,
      expect.stringContaining(`(val.name == "nbg1") && (val.is_deprecated == true)`),
    ]);
    expect(preconditions.map((p: any) => p.error_message)).toEqual([
      `server type \${${st}.name} is \${${st}.architecture}, but the kexec bundle is built for x86_64-linux: pick an x86 type (cx23, cpx22 or ccx13), or build the bundle for aarch64-linux to keep an arm type`,
      expect.stringMatching(/^server type \$\{.*\.name\} has \$\{.*\.memory\} GB of memory, the installer needs at least 2 GB \(.*\): pick a type with 2 GB or more/),
      expect.stringMatching(/^server type \$\{.*\.name\} is not offered in nbg1 \(Hetzner offers it in: \$\{join\(", ", .*\)\}\): pick one of those locations, or a type offered in nbg1$/),
      expect.stringMatching(/^server type \$\{.*\.name\} is deprecated in nbg1 and can be ordered there only until \$\{join\(.*\)\}: pick a current type/),
    ]);
  });

  it("writes them as postcondition blocks Terraform parses in the HCL form (cdktf synth --hcl)", () => {
    const stack = new TerraformStack(testApp(), "hcl");
    new HcloudNixosServer(stack, "web", baseProps());
    const hcl: string = Testing.synthHcl(stack, true);
    expect(hcl.match(/^\s*postcondition \{$/gm)).toHaveLength(4);
    // `terraform fmt` parses the file (no provider needed): a syntax error fails it.
    const fmt = spawnSync("terraform", ["fmt", "-"], { input: hcl, encoding: "utf8", env: { ...process.env, TF_CLI_CONFIG_FILE: "/dev/null" } });
    expect(fmt.stderr).toBe("");
    expect(fmt.status).toBe(0);
  });

  it("leaves out the availability checks with `checkServerTypeAvailability: false`, never architecture and memory", () => {
    const { doc, one } = synthServer({ checkServerTypeAvailability: false });
    const conditions = typeChecksOf(doc, one("hcloud_server")).map((p) => p.condition);
    expect(conditions).toEqual([expect.stringContaining(".architecture =="), expect.stringContaining(".memory >=")]);
  });

  it("asks for 2 GB: run-installer's rule for a ~250 MiB installer (1137 MiB available) plus what the base system keeps", () => {
    expect(kexecMemoryMiB(250)).toBe(1137);
    expect(HCLOUD_MIN_MEMORY_GB).toBe(2);
  });
});

describe("the plan-time checks, evaluated by terraform with the API's values", () => {
  it("pass for current types where Hetzner offers them: cx23 on x86, cax11 on arm", () => {
    expect(evaluate({ serverType: "cx23" }, CX23).map((c) => c.passes)).toEqual([true, true, true, true]);
    expect(evaluate({ serverType: "cax11", bundle: ARM_BUNDLE, location: "hel1" }, CAX11).map((c) => c.passes)).toEqual([true, true, true, true]);
  });

  it("fail for an arm type under an x86 bundle, and say what to pick instead", () => {
    expect(failures({ serverType: "cax11" }, CAX11)).toEqual([
      "server type cax11 is arm, but the kexec bundle is built for x86_64-linux: pick an x86 type (cx23, cpx22 or ccx13), or build the bundle for aarch64-linux to keep an arm type",
    ]);
    expect(failures({ serverType: "cx23", bundle: ARM_BUNDLE }, CX23)).toEqual([
      "server type cx23 is x86, but the kexec bundle is built for aarch64-linux: pick an arm type (cax11 or cax21), or build the bundle for x86_64-linux to keep an x86 type",
    ]);
  });

  it("fail for a type with too little memory for the installer", () => {
    const tiny = serverType("cx11", "x86", 1, EU.map((l) => at(l)));
    expect(failures({ serverType: "cx11" }, tiny)).toEqual([
      "server type cx11 has 1 GB of memory, the installer needs at least 2 GB (kexec keeps kernel and initrd in RAM: run-installer wants 2.5 times their ~250 MiB plus 512 MiB available, and the base system keeps ~640 MiB): pick a type with 2 GB or more (cx23, cpx22 or ccx13)",
    ]);
  });

  it("fail for a type Hetzner deprecated in the location, with the date it stops being orderable", () => {
    expect(failures({ serverType: "cx-old" }, CX_OLD)).toEqual([
      "server type cx-old is deprecated in fsn1 and can be ordered there only until 2026-01-01T00:00:00Z: pick a current type (cx23, cpx22 or ccx13); to keep it until a date, set serverTypeUsableUntil to a date before that one; for a server that already runs on it, set checkServerTypeAvailability: false",
    ]);
  });

  it("let a deprecated type pass while it stays orderable after `serverTypeUsableUntil`, and fail after", () => {
    expect(failures({ serverType: "cx-old", serverTypeUsableUntil: "2025-12-15" }, CX_OLD)).toEqual([]);
    expect(failures({ serverType: "cx-old", serverTypeUsableUntil: "2026-06-30" }, CX_OLD)).toEqual([
      "server type cx-old is deprecated in fsn1 and can be ordered there only until 2026-01-01T00:00:00Z, not after 2026-06-30 (serverTypeUsableUntil): pick a current type (cx23, cpx22 or ccx13); to keep it until a date, set serverTypeUsableUntil to a date before that one; for a server that already runs on it, set checkServerTypeAvailability: false",
    ]);
  });

  it("judge deprecation per location: deprecated in fsn1 only fails in fsn1", () => {
    const partly = serverType("cpx22", "x86", 4, [at("fsn1", RETIRED), at("nbg1")]);
    expect(failures({ serverType: "cpx22", location: "nbg1" }, partly)).toEqual([]);
    expect(failures({ serverType: "cpx22", location: "fsn1" }, partly)).toHaveLength(1);
  });

  it("fail for a type not offered in the location, listing where it is", () => {
    const euOnly = serverType("cx23", "x86", 4, [at("nbg1"), at("hel1")]);
    expect(failures({ serverType: "cx23", location: "ash" }, euOnly)).toEqual([
      "server type cx23 is not offered in ash (Hetzner offers it in: nbg1, hel1): pick one of those locations, or a type offered in ash",
    ]);
  });

  it("skip deprecation and location with `checkServerTypeAvailability: false` (a server already running on a retired type)", () => {
    expect(failures({ serverType: "cx-old", checkServerTypeAvailability: false }, serverType("cx-old", "x86", 4, []))).toEqual([]);
  });
});

describe("run-installer and the plan-time memory check apply one rule", () => {
  it("run-installer's check_memory demands kexecMemoryMiB(bundle) MiB available, exactly", () => {
    // check_memory on its own (main left out), /proc/meminfo replaced in a private mount namespace.
    const script = fs.readFileSync(path.join(REPO_ROOT, "nix", "installer", "run-installer"), "utf8").replace(/^main "\$@"$/m, "");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ni-memory-"));
    try {
      fs.writeFileSync(path.join(dir, "run-installer"), script);
      fs.mkdirSync(path.join(dir, "bundle"));
      fs.writeFileSync(path.join(dir, "bundle", "kernel"), Buffer.alloc(13 * 1024 * 1024));
      fs.truncateSync(path.join(dir, "bundle", "kernel"), 13 * 1024 * 1024);
      fs.writeFileSync(path.join(dir, "bundle", "initrd"), "");
      fs.truncateSync(path.join(dir, "bundle", "initrd"), 227 * 1024 * 1024 + 5);
      const need = kexecMemoryMiB(240.000005);
      const run = (availMiB: number) => {
        fs.writeFileSync(path.join(dir, "meminfo"), `MemTotal: 4000000 kB\nMemAvailable: ${availMiB * 1024} kB\n`);
        return spawnSync("unshare", ["-m", "sh", "-c", `mount --bind ${dir}/meminfo /proc/meminfo && . ${dir}/run-installer && bundle=${dir}/bundle && check_memory && echo enough`], {
          encoding: "utf8",
        });
      };
      expect(run(need).stdout).toBe("enough\n");
      const short = run(need - 1);
      expect(short.status).toBe(1);
      expect(short.stderr).toContain(`the installer needs ${need} MiB (kernel+initrd 241 MiB x 2.5 + 512 MiB)`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
