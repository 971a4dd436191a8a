import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App, Lazy, LocalBackend, Testing, TerraformStack, Token } from "cdktf";
import { KexecBundle, NixosInstall, NixosInstallProps, PassphraseSource, PHASES, SshIdentity } from "../../lib";
import { installProps } from "../support/install-props";
import { synthInProject, terraformValidate } from "../support/synth-project";
import { BASE_KEY, USER_KEY } from "../support/keys";

const props = installProps;

/** Synthesizes one install with the checks `cdktf synth` runs (node.addValidation). */
function synth(p: NixosInstallProps): any {
  const app = Testing.app();
  const stack = new TerraformStack(app, "test");
  new NixosInstall(stack, "host", p);
  return JSON.parse(Testing.synth(stack, true));
}

/** The host's settings: the local that every phase's local-exec takes as its environment. */
function settingsOf(config: any): Record<string, string> {
  const [, probe] = phaseResources(config)[0] ?? phaseResources(config, "null_resource")[0];
  const ref = probe.provisioner[0]["local-exec"].environment as string;
  const name = /^\$\{local\.([A-Za-z0-9_]+)\}$/.exec(ref)?.[1];
  if (!name) throw new Error(`the environment is not a local: ${ref}`);
  return config.locals[name];
}

function phaseResources(config: any, type = "terraform_data"): [string, any][] {
  return Object.entries(config.resource[type] ?? {}).sort(([a], [b]) => PHASES.indexOf(a.split("_")[1] as any) - PHASES.indexOf(b.split("_")[1] as any));
}

describe("NixosInstall synth", () => {
  test("makes one terraform_data a phase, probe → kexec → install → unlock → verify, each running its own script", () => {
    const config = synth(props());
    const phases = phaseResources(config);
    expect(phases.map(([, r]) => r.triggers_replace.phase)).toEqual(["probe", "kexec", "install", "unlock", "verify"]);
    for (const [, r] of phases) {
      const create = r.provisioner.find((p: any) => !p["local-exec"].when)["local-exec"];
      expect(create.command).toMatch(new RegExp(`^NI_TIMEOUT=\\d+ bash assets/[^ ]+/phase-${r.triggers_replace.phase}\\.sh$`));
      expect(create.environment).toBe(phases[0][1].provisioner[0]["local-exec"].environment);
    }
    expect(settingsOf(config).NI_RESOURCES).toBe(phases.map(([id, r]) => `${r.triggers_replace.phase}=terraform_data.${id}`).join(" "));
  });

  test("orders phases through the previous phase's id, never through depends_on", () => {
    const phases = phaseResources(synth(props()));
    expect(phases[0][1].triggers_replace.after).toBeUndefined();
    for (let i = 1; i < phases.length; i++) {
      expect(phases[i][1].triggers_replace).toEqual({ phase: phases[i][1].triggers_replace.phase, after: `\${terraform_data.${phases[i - 1][0]}.id}` });
      expect(phases[i][1].depends_on).toBeUndefined();
    }
  });

  test("puts the passphrase source's name in the configuration, never a passphrase", () => {
    const text = JSON.stringify(synth(props({ passphrase: PassphraseSource.fromCommand("pass show hosts/web-1") })));
    expect(text).toContain('"NI_PASSPHRASE_KIND":"command"');
    expect(text).toContain('"NI_PASSPHRASE_REF":"pass show hosts/web-1"');
  });

  test("sets the phase timeouts, with defaults", () => {
    const phases = phaseResources(synth(props({ timeouts: { install: 42 } })));
    const timeouts = Object.fromEntries(phases.map(([, r]) => [r.triggers_replace.phase, /^NI_TIMEOUT=(\d+) /.exec(r.provisioner[0]["local-exec"].command)?.[1]]));
    expect(timeouts).toEqual({ probe: "300", kexec: "1200", install: "42", unlock: "600", verify: "300" });
  });

  test("passes host, ports, user, host name, disks, wipe policy, pool and bundle to the scripts", () => {
    const env = settingsOf(
      synth(props({ port: 2022, unlockPort: 4022, user: "root", disks: ["/dev/disk/by-id/nvme-a", "/dev/disk/by-id/nvme-b"], wipe: "everything", pool: "tank" })),
    );
    expect(env).toMatchObject({
      NI_HOST: "203.0.113.10",
      NI_PORT: "2022",
      NI_UNLOCK_PORT: "4022",
      NI_USER: "root",
      NI_HOST_NAME: "web-1",
      NI_DISKS: "/dev/disk/by-id/nvme-a /dev/disk/by-id/nvme-b",
      NI_WIPE: "everything",
      NI_POOL: "tank",
      NI_BUNDLE_KIND: "url",
      NI_BUNDLE_URL: "https://example.org/kexec.tar.gz",
      NI_BUNDLE_SHA256: "a".repeat(64),
      NI_SYSTEM: "x86_64-linux",
      NI_FIRST_HOST_KEY: BASE_KEY,
      NI_TRUST_ON_FIRST_USE: "false",
      NI_AUTHORIZED_KEY_0: USER_KEY,
      NI_HOSTER_ARGS: "--hoster generic",
    });
  });

  test("defaults: port 22, unlock port 2222, root, base-system wipe, pool rpool, ssh-agent", () => {
    const env = settingsOf(synth(props()));
    expect(env).toMatchObject({ NI_PORT: "22", NI_UNLOCK_PORT: "2222", NI_USER: "root", NI_WIPE: "base-system", NI_POOL: "rpool", NI_IDENTITY_FILE: "", NI_DISKS: "", NI_BUILD_ON: "target" });
  });

  test("passes hcloud facts to write-runtime-info", () => {
    const env = settingsOf(
      synth(props({ hoster: { kind: "hcloud", serverId: 42, location: "fsn1", serverType: "cx23", ipv6Network: "2a01:4f8:c012:de47::/64", privateIps: ["10.0.0.2"] } })),
    );
    expect(env.NI_HOSTER_ARGS).toBe(
      "--hoster hcloud --hcloud-server-id 42 --hcloud-location fsn1 --hcloud-server-type cx23 --hcloud-ipv6-network 2a01:4f8:c012:de47::/64 --private-ip 10.0.0.2",
    );
  });

  test("archives the host record on destroy (never deletes it: a replacement takes it back)", () => {
    const [, probe] = phaseResources(synth(props()))[0];
    const destroy = probe.provisioner.find((p: any) => p["local-exec"].when === "destroy")["local-exec"];
    expect(destroy.command).toMatch(/^bash assets\/nixos-install-deploy-scripts\/[0-9A-F]+\/release-records\.sh '\$\{self\.triggers_replace\.host_dir\}' '\$\{self\.triggers_replace\.host_name\}'$/);
    expect(probe.triggers_replace.host_dir).toMatch(/hosts\/web-1$/);
  });

  test("offers null_resource for Terraform older than 1.4", () => {
    const config = synth(props({ resourceType: "null_resource" }));
    expect(config.resource.terraform_data).toBeUndefined();
    const phases = phaseResources(config, "null_resource");
    expect(phases).toHaveLength(5);
    expect(phases[1][1].triggers).toEqual({ phase: "kexec", after: `\${null_resource.${phases[0][0]}.id}` });
    expect(phases[0][1].provisioner[1]["local-exec"].command).toMatch(/release-records\.sh '\$\{self\.triggers\.host_dir\}' '\$\{self\.triggers\.host_name\}'$/);
  });

  test("writes every path relative to the stack directory, so the output is relocatable", () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "ni-synth-"));
    const cwd = process.cwd();
    const project = fs.mkdtempSync(path.join(os.tmpdir(), "ni-project-"));
    fs.mkdirSync(path.join(project, "bundle"));
    fs.writeFileSync(path.join(project, "bundle", "manifest.json"), '{"system":"x86_64-linux"}');
    process.chdir(project);
    try {
      const app = new App({ outdir: "cdktf.out" });
      const stack = new TerraformStack(app, "relocatable");
      new LocalBackend(stack, { path: "../../../terraform.relocatable.tfstate" });
      new NixosInstall(stack, "host", props({ bundle: KexecBundle.fromPath("bundle"), identity: SshIdentity.keyFile("keys/id_ed25519"), passphrase: PassphraseSource.fromFile("secrets/disk") }));
      app.synth();
      const text = fs.readFileSync(path.join(project, "cdktf.out", "stacks", "relocatable", "cdk.tf.json"), "utf8");
      expect(text).not.toContain(project);
      expect(text).not.toContain(cwd);
      expect(settingsOf(JSON.parse(text))).toMatchObject({
        NI_BUNDLE_PATH: "../../../bundle",
        NI_IDENTITY_FILE: "../../../keys/id_ed25519",
        NI_PASSPHRASE_REF: "../../../secrets/disk",
        NI_HOSTS_DIR: "../../../hosts",
      });
    } finally {
      process.chdir(cwd);
      fs.rmSync(project, { recursive: true, force: true });
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe("NixosInstall rejects bad input at synth, naming the prop, the rule and the value", () => {
  const cases: [string, Partial<NixosInstallProps>, RegExp][] = [
    ["a host name with an underscore", { hostName: "Web_1" }, /`hostName` must be a valid hostname .*got: `Web_1`/],
    ["a host name longer than 63", { hostName: "a".repeat(64) }, /`hostName` must be a valid hostname .*got: `a{64}`/],
    ["a host name ending in '-'", { hostName: "web-" }, /`hostName` must be a valid hostname/],
    ["port 0", { port: 0 }, /`port` must be an integer from 1 to 65535, got: `0`/],
    ["port 70000", { port: 70000 }, /`port` must be an integer from 1 to 65535, got: `70000`/],
    ["an unlock port equal to the SSH port", { port: 22, unlockPort: 22 }, /`unlockPort` must differ from `port` \(22\).*got: `22`/],
    ["no host key and no opt-in to trust on first use", { hostKey: undefined }, /`hostKey` must be given, or `trustOnFirstUse: true` set.*got: `undefined`/],
    ["a host key that is not ed25519", { hostKey: "ssh-rsa AAAAB3NzaC1yc2E" }, /`hostKey` must be an ed25519 public key line.*got: `ssh-rsa AAAAB3NzaC1yc2E`/],
    ["a missing passphrase source", { passphrase: undefined as any }, /`passphrase` must be a PassphraseSource .*a literal is never accepted.*got: `undefined`/],
    ["a literal passphrase", { passphrase: "hunter22hunter22" as any }, /`passphrase` must be a PassphraseSource/],
    ["an env passphrase source with a bad name", { passphrase: PassphraseSource.fromEnv("DISK-PASS") }, /`passphrase` must name an environment variable.*got: `DISK-PASS`/],
    ["a URL bundle without sha256", { bundle: KexecBundle.fromUrl({ url: "https://example.org/k.tar.gz", sha256: undefined as any, system: "x86_64-linux" }) }, /`bundle.sha256` must be the tarball's sha256 .*got: `undefined`/],
    ["a URL bundle with a short sha256", { bundle: KexecBundle.fromUrl({ url: "https://example.org/k.tar.gz", sha256: "abc", system: "x86_64-linux" }) }, /`bundle.sha256` must be .*got: `abc`/],
    ["a URL bundle with an ftp URL", { bundle: KexecBundle.fromUrl({ url: "ftp://example.org/k", sha256: "a".repeat(64), system: "x86_64-linux" }) }, /`bundle.url` must be an http\(s\) URL.*got: `ftp:\/\/example.org\/k`/],
    ["an unknown system", { bundle: KexecBundle.fromFlake({ flake: "github:o/r", system: "riscv64-linux" as any }) }, /`bundle.system` must be one of x86_64-linux, aarch64-linux, got: `riscv64-linux`/],
    ["no authorized key", { authorizedKeys: [] }, /`authorizedKeys` must hold at least one public key/],
    ["an authorized key that is not a key", { authorizedKeys: ["hello"] }, /`authorizedKeys\[0\]` must be an OpenSSH public key line .*got: `hello`/],
    ["a disk outside /dev", { disks: ["/tmp/disk.img"] }, /`disks\[0\]` must be a device path under \/dev.*got: `\/tmp\/disk.img`/],
    ["a disk path with a space", { disks: ["/dev/disk/by-id/a b"] }, /`disks\[0\]` must be a device path/],
    ["the same disk twice", { disks: ["/dev/sda", "/dev/sda"] }, /`disks` must not name a disk twice/],
    ["an unknown wipe policy", { wipe: "all" as any }, /`wipe` must be "base-system" or "everything", got: `all`/],
    ["a zero timeout", { timeouts: { install: 0 } }, /`timeouts.install` must be a whole number of seconds from 1 to 86400, got: `0`/],
    ["a timeout for an unknown phase", { timeouts: { reboot: 5 } as any }, /`timeouts.reboot` must be one of probe, kexec, install, unlock, verify, got: `reboot`/],
    ["a hosts dir inside cdktf.out", { hostsDir: "cdktf.out/hosts" }, /`hostsDir` must lie outside cdktf.out.*got: `cdktf.out\/hosts`/],
    ["a host with a space", { host: "a b" }, /`host` must be an IP address or DNS name \(no port: set `port`;.*\), got: `a b`/],
    ["a bad pool name", { pool: "1pool" }, /`pool` must be a ZFS pool name.*got: `1pool`/],
    ["an unknown build place", { buildOn: "laptop" }, /`buildOn` must be "target" or "deployer", got: `laptop`/],
    ["a build on the deploy machine of the template", { buildOn: "deployer" }, /`buildOn` must be "target" unless `configuration` is HostConfiguration\.fromFlake\(\{ dir \}\).*got: `deployer`/],
  ];
  test.each(cases)("%s", (_name, overrides, message) => {
    expect(() => synth(props(overrides))).toThrow(message);
  });

  test("reports every invalid prop at once", () => {
    expect(() => synth(props({ hostName: "Web_1", port: 0, wipe: "all" as any }))).toThrow(/port[\s\S]*hostName[\s\S]*wipe/);
  });

  test("lists the problems of every host of a fleet in one synth, each under its construct path", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "fleet");
    new NixosInstall(stack, "web-1", props({ hostName: "Web_1" }));
    new NixosInstall(stack, "web-2", props({ hostName: "web-2", port: 0 }));
    new NixosInstall(stack, "web-3", props({ hostName: "web-3", disks: ["sdb"] }));
    new NixosInstall(stack, "web-4", props({ hostName: "web-4" }));
    let message = "";
    try {
      Testing.synth(stack, true);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split("\n").filter((l) => l.startsWith("  ["))).toEqual([
      "  [fleet/web-1] `hostName` must be a valid hostname (a-z, 0-9, '-', at most 63, no '-' at either end), got: `Web_1`",
      "  [fleet/web-2] `port` must be an integer from 1 to 65535, got: `0`",
      "  [fleet/web-3] `disks[0]` must be a device path under /dev (letters, digits, . _ : + @ / -), got: `sdb`",
    ]);
  });

  test("an app with skipValidation still never writes a configuration from invalid props", () => {
    const skipping = () => new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), "ni-skip-")), skipValidation: true });
    const bad = new TerraformStack(skipping(), "bad");
    new NixosInstall(bad, "web-1", props({ host: "-oProxyCommand=touch /tmp/pwned" }));
    expect(() => Testing.synth(bad)).toThrow(
      "bad/web-1: invalid props (the app skips validation, but these are never written):\n  `host` must be an IP address or DNS name",
    );
    const good = new TerraformStack(skipping(), "good");
    new NixosInstall(good, "web-1", props());
    expect(JSON.parse(Testing.synth(good)).resource.terraform_data).toBeDefined();
  });

  test("constructs a host with invalid props without throwing, so the next host's problems are found too", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    expect(() => new NixosInstall(stack, "bad", { host: undefined, passphrase: "literal", bundle: undefined, authorizedKeys: undefined, hostName: undefined } as any)).not.toThrow();
  });

  test("shows a token as 'a token (known at apply)', never as #{TfToken[…]}", () => {
    const name = Token.asString(Lazy.stringValue({ produce: () => "web-1" }));
    expect(() => synth(props({ hostName: name }))).toThrow(
      "[test/host] `hostName` must be known at synth (it names hosts/NAME/ and the installed system), got: `a token (known at apply)`",
    );
    expect(() => synth(props({ hostName: name }))).not.toThrow(/TfToken|TOKEN\./);
  });
});

describe("terraform validate", () => {
  function validate(hcl: boolean) {
    const synthesized = synthInProject((stack) => new NixosInstall(stack, "host", props()), { hcl });
    try {
      const file = path.join(synthesized.stackDir, hcl ? "cdk.tf" : "cdk.tf.json");
      expect(fs.readFileSync(file, "utf8")).not.toContain(synthesized.project);
      return terraformValidate(synthesized.stackDir);
    } finally {
      synthesized.remove();
    }
  }
  test.each([["JSON", false], ["HCL", true]])("accepts the %s form with no warning", (_form, hcl) => {
    const result = validate(hcl as boolean);
    expect(result.valid).toBe(true);
    expect(result.diagnostics).toEqual([]);
    expect(result.warning_count).toBe(0);
  });
});

describe("NixosInstall in a fleet", () => {
  test("copies the scripts and the template once a stack, however many hosts it installs", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "fleet");
    for (let i = 0; i < 3; i++) new NixosInstall(stack, `host-${i}`, props({ hostName: `web-${i}`, host: `203.0.113.${10 + i}` }));
    const config = JSON.parse(Testing.synth(stack));
    const commands = Object.values(config.resource.terraform_data).map((r: any) => r.provisioner[0]["local-exec"].command as string);
    expect(new Set(commands.map((c) => c.split(" ")[2].replace(/\/phase-.*$/, ""))).size).toBe(1);
    expect(Object.keys(config.locals)).toHaveLength(3);
  });
});
