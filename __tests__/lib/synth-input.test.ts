// Edge-case input refused (or normalized) when `cdktf synth` runs, before anything
// reaches Terraform or a host (issue 10, items 7-11). Each case names what a user
// would see: the construct path, the prop, the rule and the value.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App, TerraformStack, Testing } from "cdktf";
import { HcloudNixosServer, HcloudNixosServerProps, KexecBundle, NixosInstall, NixosInstallProps, PassphraseSource, SshIdentity } from "../../lib";
import { installProps } from "../support/install-props";
import { synthInProject, terraformValidate } from "../support/synth-project";
import { BASE_KEY, USER_KEY } from "../support/keys";
import { baseProps as hcloudProps, OTHER_KEY } from "../hcloud/helpers";

const props = installProps;

/** The `[path] message` lines `cdktf synth` prints for a stack, or [] when it synthesizes. */
function synthErrors(build: (stack: TerraformStack) => void): string[] {
  const stack = new TerraformStack(Testing.app(), "s");
  build(stack);
  try {
    Testing.synth(stack, true);
    return [];
  } catch (error) {
    return (error as Error).message.split("\n").filter((l) => l.startsWith("  [")).map((l) => l.trim());
  }
}

const installErrors = (overrides: Partial<NixosInstallProps>) => synthErrors((s) => new NixosInstall(s, "web-1", props(overrides)));

function settingsOf(stack: TerraformStack): Record<string, string> {
  const doc = JSON.parse(Testing.synth(stack, true));
  return Object.values<Record<string, string>>(doc.locals)[0];
}

describe("10.7 two installs writing the same hosts/NAME/ are refused at synth", () => {
  test("two hosts with the same hostName in one stack: the second names the first", () => {
    const errors = synthErrors((s) => {
      new NixosInstall(s, "a", props({ host: "203.0.113.10" }));
      new NixosInstall(s, "b", props({ host: "203.0.113.11" }));
    });
    expect(errors).toEqual([
      "[s/b] `hostName` must be unique in its stack and among installs that share `hostsDir`: s/a installs it too (both would write hosts/web-1/ and overwrite each other's pins), got: `web-1`",
    ]);
  });

  test("the same hostName in one stack is refused even with different hostsDirs (one name, two machines)", () => {
    const errors = synthErrors((s) => {
      new NixosInstall(s, "a", props({ hostsDir: "hosts/a" }));
      new NixosInstall(s, "b", props({ hostsDir: "hosts/b" }));
    });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^\[s\/b\] `hostName` must be unique .*s\/a installs it too/);
  });

  test("two stacks of one app sharing hostsDir are refused; with their own hostsDirs they synthesize", () => {
    const shared = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), "ni-dup-")) });
    const one = new TerraformStack(shared, "staging");
    const two = new TerraformStack(shared, "production");
    new NixosInstall(one, "web", props());
    new NixosInstall(two, "web", props());
    expect(() => shared.synth()).toThrow("[production/web] `hostName` must be unique in its stack and among installs that share `hostsDir`: staging/web installs it too");

    const apart = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), "ni-dup-")) });
    new NixosInstall(new TerraformStack(apart, "staging"), "web", props({ hostsDir: "hosts/staging" }));
    new NixosInstall(new TerraformStack(apart, "production"), "web", props({ hostsDir: "hosts/production" }));
    expect(() => apart.synth()).not.toThrow();
  });
});

describe("10.8 a host key read from a .pub file is normalized to `type base64`, for the check and for the pin", () => {
  const pub = `${BASE_KEY} root@web-1\n`;

  test("the comment and the trailing newline are dropped from the pin and the probe's identity", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    new NixosInstall(stack, "web-1", props({ hostKey: pub }));
    expect(settingsOf(stack).NI_FIRST_HOST_KEY).toBe(BASE_KEY);
    const doc = JSON.parse(Testing.synth(stack, true));
    const probe = Object.values<any>(doc.resource.terraform_data).find((r) => r.triggers_replace.phase === "probe");
    expect(probe.triggers_replace.first_host_key).toBe(BASE_KEY);
  });

  test("a key separated by tabs or with CRLF (a file from Windows) is normalized the same way", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    new NixosInstall(stack, "web-1", props({ hostKey: `  ${BASE_KEY.replace(" ", "\t")} root@web-1\r\n` }));
    expect(settingsOf(stack).NI_FIRST_HOST_KEY).toBe(BASE_KEY);
  });

  test("the HCL form (cdktf synth --hcl) of a stack whose key came from a .pub file passes terraform validate", () => {
    const synthesized = synthInProject((stack) => new NixosInstall(stack, "web-1", props({ hostKey: pub })), { hcl: true });
    try {
      expect(terraformValidate(synthesized.stackDir)).toMatchObject({ valid: true, warning_count: 0 });
    } finally {
      synthesized.remove();
    }
  });

  test("a key that is not ed25519 is still refused after normalization, showing what was given", () => {
    expect(installErrors({ hostKey: "ssh-rsa AAAAB3NzaC1yc2E root@web-1\n" })).toEqual([
      "[s/web-1] `hostKey` must be an ed25519 public key line (ssh-ed25519 AAAA…), got: `ssh-rsa AAAAB3NzaC1yc2E root@web-1\\n`",
    ]);
  });
});

describe("10.9 `host` is an address or a name, never a port, an option or junk", () => {
  const RULE = "must be an IP address or DNS name (no port: set `port`; no brackets; no leading '-'; labels of a-z, 0-9, '-', '_'; at most 253 characters)";
  test.each([
    ["an IPv4 address with a port", "127.0.0.77:11122"],
    ["a name with a port", "web-1.example.org:22"],
    ["a bracketed IPv6 address with a port", "[2001:db8::10]:22"],
    ["a bracketed IPv6 address", "[2001:db8::10]"],
    ["an ssh option", "-oProxyCommand=touch /tmp/x"],
    ["a leading '-'", "-web-1"],
    ["dots only", "..."],
    ["one dot", "."],
    ["an empty label", "web..example.org"],
    ["dotted digits that are no IPv4 address", "999.1.1.1"],
    ["a label longer than 63", `${"a".repeat(64)}.example.org`],
    ["thousands of characters", "a.".repeat(2000) + "org"],
    ["an empty string", ""],
    ["a user@host form", "root@web-1"],
  ])("refuses %s", (_case, host) => {
    const errors = installErrors({ host });
    expect(errors).toHaveLength(1);
    expect(errors[0].startsWith(`[s/web-1] \`host\` ${RULE}, got: \``)).toBe(true);
  });

  test.each([
    ["IPv4", "203.0.113.10"],
    ["IPv6", "2001:db8::10"],
    ["IPv6 with an IPv4 tail", "::ffff:203.0.113.10"],
    ["a DNS name", "web-1.example.org"],
    ["a fully qualified name with a trailing dot", "web-1.example.org."],
    ["a one-label name", "web-1"],
    ["a name of 253 characters", `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`],
  ])("accepts %s", (_case, host) => {
    expect(installErrors({ host })).toEqual([]);
  });
});

describe("10.10 '%{', '${', CR and NUL never reach Terraform from any prop", () => {
  const RULE = "hold no '%{' or '${' (Terraform would read a template), carriage return or NUL character";
  // Every string prop of NixosInstall, with a value that is otherwise valid for it.
  const cases: [string, (bad: string) => Partial<NixosInstallProps>][] = [
    ["host", (bad) => ({ host: `web${bad}` })],
    ["authorizedKeys[0]", (bad) => ({ authorizedKeys: [`${USER_KEY}${bad}x`] })],
    ["hostName", (bad) => ({ hostName: `web${bad}` })],
    ["disks[0]", (bad) => ({ disks: [`/dev/disk/by-id/a${bad}`] })],
    ["pool", (bad) => ({ pool: `rpool${bad}` })],
    ["hostsDir", (bad) => ({ hostsDir: `hosts${bad}` })],
    ["user", (bad) => ({ user: `root${bad}` })],
    ["wipe", (bad) => ({ wipe: `everything${bad}` })],
    ["resourceType", (bad) => ({ resourceType: `terraform_data${bad}` })],
    ["identity.keyFile", (bad) => ({ identity: SshIdentity.keyFile(`keys/id${bad}`) })],
    ["passphrase", (bad) => ({ passphrase: PassphraseSource.fromEnv(`DISK${bad}`) })],
    ["passphrase", (bad) => ({ passphrase: PassphraseSource.fromFile(`secrets/disk${bad}`) })],
    ["passphrase", (bad) => ({ passphrase: PassphraseSource.fromCommand(`pass show disk${bad}`) })],
    ["bundle.flake", (bad) => ({ bundle: KexecBundle.fromFlake({ flake: `github:o/r${bad}`, system: "x86_64-linux" }) })],
    ["bundle.dir", (bad) => ({ bundle: KexecBundle.fromPath(`bundle${bad}`, { system: "x86_64-linux" }) })],
    ["bundle.url", (bad) => ({ bundle: KexecBundle.fromUrl({ url: `https://example.org/k${bad}.tar.gz`, sha256: "a".repeat(64), system: "x86_64-linux" }) })],
    ["bundle.sha256", (bad) => ({ bundle: KexecBundle.fromUrl({ url: "https://example.org/k.tar.gz", sha256: `${"a".repeat(62)}${bad}`, system: "x86_64-linux" }) })],
    ["bundle.system", (bad) => ({ bundle: KexecBundle.fromUrl({ url: "https://example.org/k.tar.gz", sha256: "a".repeat(64), system: `x86_64-linux${bad}` as never }) })],
    ["hoster.location", (bad) => ({ hoster: { kind: "hcloud", serverId: 1, location: `fsn1${bad}`, serverType: "cx23" } })],
    ["hoster.serverType", (bad) => ({ hoster: { kind: "hcloud", serverId: 1, location: "fsn1", serverType: `cx23${bad}` } })],
    ["hoster.serverId", (bad) => ({ hoster: { kind: "hcloud", serverId: `1${bad}`, location: "fsn1", serverType: "cx23" } })],
    ["hoster.ipv6Network", (bad) => ({ hoster: { kind: "hcloud", serverId: 1, location: "fsn1", serverType: "cx23", ipv6Network: `2001:db8::/64${bad}` } })],
    ["hoster.privateIps[0]", (bad) => ({ hoster: { kind: "hcloud", serverId: 1, location: "fsn1", serverType: "cx23", privateIps: [`10.0.0.2${bad}`] } })],
  ];
  const bads: [string, string][] = [
    ["a template directive", "%{if true}X%{endif}"],
    ["an interpolation", "${path.cwd}"],
    ["a carriage return", "\r"],
    ["a NUL", "\0"],
  ];
  for (const [badName, bad] of bads) {
    test.each(cases)(`${badName} in %s is refused, naming the prop`, (prop, make) => {
      const errors = installErrors(make(bad));
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors.every((e) => e.startsWith(`[s/web-1] \`${prop}\` must `))).toBe(true);
    });
  }

  test("a template in the host key's comment goes with the comment: only `type base64` is written", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    new NixosInstall(stack, "web-1", props({ hostKey: `${BASE_KEY} 100%{if true}X%{endif}` }));
    expect(settingsOf(stack).NI_FIRST_HOST_KEY).toBe(BASE_KEY);
  });

  test("a key comment '100%{if true}X%{endif}' (the reviewer's case) is refused with the Terraform rule", () => {
    expect(installErrors({ authorizedKeys: [`${USER_KEY.split(" ").slice(0, 2).join(" ")} 100%{if true}X%{endif}`] })).toEqual([
      `[s/web-1] \`authorizedKeys[0]\` must ${RULE}, got: \`${USER_KEY.split(" ").slice(0, 2).join(" ")} 100%{if true}X%{endif}\``,
    ]);
  });

  test("a single '%' or '$' that is no template passes (percent signs in comments, $ in file names are fine for Terraform)", () => {
    expect(installErrors({ authorizedKeys: [`${USER_KEY} 100%`], passphrase: PassphraseSource.fromCommand("pass show disk | tr -d %") })).toEqual([]);
  });

  const hcloudCases: [string, (bad: string) => Partial<HcloudNixosServerProps>][] = [
    ["labels.role", (bad) => ({ labels: { role: `web${bad}` } })],
    ["labels", (bad) => ({ labels: { [`role${bad}`]: "web" } })],
    ["serverType", (bad) => ({ serverType: `cx23${bad}` })],
    ["location", (bad) => ({ location: `fsn1${bad}` })],
    ["image", (bad) => ({ image: `debian-12${bad}` })],
    ["sshPublicKey", (bad) => ({ sshPublicKey: `${OTHER_KEY}${bad}` })],
    ["sshKeyIds[0]", (bad) => ({ sshKeyIds: [`admin${bad}`] })],
    ["reverseDns", (bad) => ({ reverseDns: `web-1.example.org${bad}` })],
    ["firewall.sshSourceIps[0]", (bad) => ({ firewall: { sshSourceIps: [`0.0.0.0/0${bad}`] } })],
  ];
  test.each(hcloudCases)("'%%{' in HcloudNixosServer's %s is refused under its path", (prop, make) => {
    const errors = synthErrors((s) => new HcloudNixosServer(s, "web", hcloudProps(make("%{if true}X%{endif}"))));
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.every((e) => e.startsWith(`[s/web] \`${prop}\` must `))).toBe(true);
  });
});

describe("10.11 the passphrase never comes from a variable the shell, Terraform, SSH or the chain sets", () => {
  test.each(["PATH", "HOME", "USER", "SHELL", "PWD", "TERM", "LANG", "LOGNAME", "TMPDIR", "NI_HOST", "NI_PASSPHRASE_REF", "TF_LOG", "LC_ALL", "SSH_AUTH_SOCK", "LD_PRELOAD"])(
    "PassphraseSource.fromEnv(%s) is refused",
    (name) => {
      const errors = installErrors({ passphrase: PassphraseSource.fromEnv(name) });
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`^\\[s/web-1\\] \`passphrase\` must name a variable of your own, not one that the shell, Terraform, SSH or this chain sets \\(PATH HOME .* NI_\\* TF_\\* .*\\): its value would become the pool key, got: \`${name}\`$`));
    },
  );

  test.each(["DISK_PASSPHRASE", "WEB_1_DISK", "path", "Home", "MY_NI_KEY"])("PassphraseSource.fromEnv(%s) is accepted", (name) => {
    expect(installErrors({ passphrase: PassphraseSource.fromEnv(name) })).toEqual([]);
  });
});
