// List props given as tokens (a variable, another resource's attribute) are only known
// at apply: Terraform checks them there with a precondition that names the prop, the
// rule and the value, before the first phase runs; valid lists reach the scripts.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { HcloudNixosServer, NixosInstall } from "../../lib";
import { baseProps as hcloudProps } from "../hcloud/helpers";
import { installProps } from "../support/install-props";
import { BASE_KEY, USER_KEY } from "../support/keys";
import { SynthProject, synthInProject } from "../support/synth-project";
import { isPublicKey } from "../../lib/validation";
import { PUBLIC_KEY_LINE_PATTERN } from "../../lib/nixos-install";

jest.setTimeout(120_000);

/** Synthesizes a stack whose authorizedKeys and disks are variables, and runs terraform init. */
function tokenListStack(hcl: boolean): SynthProject {
  const synthesized = synthInProject((stack) => {
    const keys = new TerraformVariable(stack, "keys", { type: "list(string)" });
    const disks = new TerraformVariable(stack, "disks", { type: "list(string)" });
    new NixosInstall(stack, "web-1", installProps({ authorizedKeys: keys.listValue, disks: disks.listValue }));
  }, { hcl });
  execFileSync("terraform", [`-chdir=${synthesized.stackDir}`, "init", "-input=false", "-no-color"], { encoding: "utf8" });
  return synthesized;
}

/** Runs terraform; `output` is stdout and stderr with line breaks folded (messages wrap), `stdout` as printed. */
function tf(dir: string, args: string[], input?: string): { code: number; output: string; stdout: string } {
  const r = spawnSync("terraform", [`-chdir=${dir}`, ...args], { encoding: "utf8", input, env: { ...process.env, TF_IN_AUTOMATION: "1" } });
  return { code: r.status ?? 1, output: `${r.stdout}${r.stderr}`.replace(/\s*\n\s*/g, " "), stdout: r.stdout };
}

const vars = (keys: string[], disks: string[]) => ["-var", `keys=${JSON.stringify(keys)}`, "-var", `disks=${JSON.stringify(disks)}`];

describe.each([
  ["JSON", false],
  ["HCL", true],
])("NixosInstall with list tokens (%s form)", (_form, hcl) => {
  let synthesized: SynthProject;
  let dir: string;
  beforeAll(() => {
    synthesized = tokenListStack(hcl);
    dir = synthesized.stackDir;
  });
  afterAll(() => synthesized.remove());

  test("terraform plan refuses a key list with a line that is no key, naming the prop and the value", () => {
    const plan = tf(dir, ["plan", "-input=false", "-no-color", "-lock=false", ...vars(["not a key"], ["/dev/sda"])]);
    expect(plan.code).not.toBe(0);
    expect(plan.output).toContain('Resource precondition failed');
    expect(plan.output).toContain('`authorizedKeys` must hold at least one OpenSSH public key line (type base64 [comment]), got: `["not a key"]`');
  });

  test("terraform plan refuses an empty key list and a disk outside /dev, both in one run", () => {
    const plan = tf(dir, ["plan", "-input=false", "-no-color", "-lock=false", ...vars([], ["sdb"])]);
    expect(plan.code).not.toBe(0);
    expect(plan.output).toContain("`authorizedKeys` must hold at least one OpenSSH public key line (type base64 [comment]), got: `[]`");
    expect(plan.output).toContain('`disks` must hold at least one disk, each a device path under /dev (letters, digits, . _ : + @ / -), got: `["sdb"]`');
  });

  test("valid lists plan, and each key becomes its own NI_AUTHORIZED_KEY_n, trimmed, for the scripts", () => {
    const good = vars([`${USER_KEY}\n`, BASE_KEY], ["/dev/disk/by-id/a", "/dev/disk/by-id/b"]);
    expect(tf(dir, ["plan", "-input=false", "-no-color", "-lock=false", ...good]).code).toBe(0);
    const name = /(web-1_settings_[0-9A-F]+)/.exec(fs.readFileSync(path.join(dir, hcl ? "cdk.tf" : "cdk.tf.json"), "utf8"))?.[1];
    const shown = tf(dir, ["console", "-no-color", ...good], `jsonencode(local.${name})\n`);
    const settings = JSON.parse(JSON.parse(shown.stdout));
    expect(settings).toMatchObject({ NI_AUTHORIZED_KEY_0: USER_KEY, NI_AUTHORIZED_KEY_1: BASE_KEY, NI_DISKS: "/dev/disk/by-id/a /dev/disk/by-id/b" });
    expect(Object.keys(settings).filter((k) => k.startsWith("NI_AUTHORIZED_KEY_"))).toHaveLength(2);
  });
});

describe("the apply-time key check and the synth-time rule agree", () => {
  test("on real keys of every type and on junk, isPublicKey and the precondition's pattern give the same answer", () => {
    const accepted = [
      USER_KEY,
      BASE_KEY,
      "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host",
      "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= x",
      "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t yubikey",
    ];
    for (const key of accepted) {
      expect(isPublicKey(key)).toBe(true);
      expect(new RegExp(PUBLIC_KEY_LINE_PATTERN).test(key.trim())).toBe(true);
    }
    for (const junk of ["not a key", "", "AAAAC3Nza only-base64", "ssh-ed25519", "hello world"]) {
      expect(isPublicKey(junk)).toBe(false);
      expect(new RegExp(PUBLIC_KEY_LINE_PATTERN).test(junk)).toBe(false);
    }
  });
});

describe("HcloudNixosServer with list tokens", () => {
  test("firewall source lists and alias IPs given as tokens get preconditions instead of synth-time checks", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const sources = new TerraformVariable(stack, "sources", { type: "list(string)" });
    const aliases = new TerraformVariable(stack, "aliases", { type: "list(string)" });
    new HcloudNixosServer(stack, "web", hcloudProps({ firewall: { sshSourceIps: sources.listValue }, privateNetwork: { networkId: 1, ipRange: "10.0.1.0/24", ip: "10.0.1.10", aliasIps: aliases.listValue } }));
    const doc = JSON.parse(Testing.synth(stack, true));
    const firewall = Object.values<any>(doc.resource.hcloud_firewall)[0];
    const server = Object.values<any>(doc.resource.hcloud_server)[0];
    expect(firewall.lifecycle.precondition).toEqual([
      {
        condition: "${alltrue([ for key, val in var.sources: can(cidrhost(val, 0))])}",
        error_message: "`firewall.sshSourceIps` must list CIDRs (address/prefix), got: `${jsonencode(var.sources)}`",
      },
    ]);
    // The server type's plan-time checks are its data source's (__tests__/hcloud/server-type-checks.test.ts).
    expect(server.lifecycle.precondition).toEqual([
      {
        condition: '${alltrue([ for key, val in var.aliases: can(cidrhost("${val}/32", 0))])}',
        error_message: "`privateNetwork.aliasIps` must list IP addresses, got: `${jsonencode(var.aliases)}`",
      },
    ]);
    expect(server.lifecycle.ignore_changes).toEqual(["user_data", "image", "ssh_keys"]);
    const probe = Object.values<any>(doc.resource.terraform_data).find((r) => r.triggers_replace.phase === "probe");
    expect(Object.values<string>(doc.locals)[0]).toBeDefined();
    expect(JSON.stringify(doc.locals)).toContain("concat([\\\"10.0.1.10\\\"], var.aliases)");
    expect(probe).toBeDefined();
  });
});
