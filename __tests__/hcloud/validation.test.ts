import { App, Lazy, TerraformStack, Testing } from "cdktf";
import { HcloudNixosServer, HcloudNixosServerProps } from "../../lib/hcloud-nixos-server";
import { KexecBundle } from "../../lib/kexec-bundle";
import { ADMIN_KEY, baseProps, OTHER_KEY, synthServer, testApp } from "./helpers";

/** The message HcloudNixosServer throws for these props (fails the test when it does not throw). */
function errorFor(overrides: Partial<HcloudNixosServerProps>): string {
  try {
    synthServer(overrides);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`expected synth to fail for ${JSON.stringify(overrides)}`);
}

/** A value only known when Terraform resolves it. */
const later = (value: string) => Lazy.stringValue({ produce: () => value });


describe("HcloudNixosServer refuses bad input at synth, naming the prop, the rule and the value", () => {
  it.each<[string, Partial<HcloudNixosServerProps>, string]>([
    ["a host name with capitals and '_'", { hostName: "Web_1" }, "`hostName` must be a valid hostname (a-z, 0-9, '-', at most 63, no '-' at either end), got: `Web_1`"],
    ["a host name longer than 63", { hostName: "a".repeat(64) }, `\`hostName\` must be a valid hostname (a-z, 0-9, '-', at most 63, no '-' at either end), got: \`${"a".repeat(64)}\``],
    ["a host name ending in '-'", { hostName: "web-" }, "`hostName` must be a valid hostname"],
    ["protection flags that differ", { deleteProtection: true, rebuildProtection: false }, "`rebuildProtection` must equal `deleteProtection` (true): Hetzner sets both together, got: `false`"],
    ["a firewall source that is not a CIDR", { firewall: { sshSourceIps: ["203.0.113.7"] } }, "`firewall.sshSourceIps[0]` must be an IPv4 or IPv6 CIDR (address/prefix, e.g. 203.0.113.7/32), got: `203.0.113.7`"],
    ["a firewall CIDR with a prefix out of range", { firewall: { sshSourceIps: ["10.0.0.0/33"] } }, "`firewall.sshSourceIps[0]` must be an IPv4 or IPv6 CIDR"],
    ["a firewall CIDR with host bits", { firewall: { sshSourceIps: ["0.0.0.0/0"], unlockSourceIps: ["2001:db8::1/32"] } }, "`firewall.unlockSourceIps[0]` must have no host bits set (did you mean 2001:db8::/32?), got: `2001:db8::1/32`"],
    ["an empty firewall source list", { firewall: { sshSourceIps: [] } }, "`firewall.sshSourceIps` must list at least one CIDR"],
    ["a private IP outside the subnet", { privateNetwork: { networkId: 1, ipRange: "10.0.1.0/24", ip: "10.0.2.10" } }, "`privateNetwork.ip` must lie inside `privateNetwork.ipRange` 10.0.1.0/24, got: `10.0.2.10`"],
    ["the subnet's gateway address as private IP", { privateNetwork: { networkId: 1, ipRange: "10.0.1.0/24", ip: "10.0.1.1" } }, "`privateNetwork.ip` must not be the network, gateway (first) or broadcast address of 10.0.1.0/24, got: `10.0.1.1`"],
    ["a public range as private network", { privateNetwork: { networkId: 1, ipRange: "8.8.8.0/24", ip: "8.8.8.10" } }, "`privateNetwork.ipRange` must lie inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, got: `8.8.8.0/24`"],
    ["a private IP that is not IPv4", { privateNetwork: { networkId: 1, ipRange: "10.0.1.0/24", ip: "10.0.1" } }, "`privateNetwork.ip` must be an IPv4 address (e.g. 10.0.1.10), got: `10.0.1`"],
    ["no address at all", { ipv4: false, ipv6: false }, "`ipv4` must be true when `ipv6` is false and no `privateNetwork` is given (the install chain needs an address to reach), got: `false`"],
    ["a location that is a datacenter", { location: "fsn1-dc14" }, "`location` must be a Hetzner location (e.g. fsn1, nbg1, hel1, ash, hil, sin; not a datacenter), got: `fsn1-dc14`"],
    ["a server type with capitals", { serverType: "CX23" }, "`serverType` must be a Hetzner server type (a-z, 0-9, '-', e.g. cx23, cpx22, cax11), got: `CX23`"],
    ["a usable-until date that is no date", { serverTypeUsableUntil: "2026-02-30" }, "`serverTypeUsableUntil` must be a date written YYYY-MM-DD (e.g. 2026-06-30), got: `2026-02-30`"],
    ["no SSH key at all", { sshPublicKey: undefined, authorizedKeys: [ADMIN_KEY] }, "`sshPublicKey` must be given (or `sshKeyIds`) so root can log in to the base system, got: `undefined`"],
    ["key ids without authorized keys", { sshPublicKey: undefined, sshKeyIds: ["1"] }, "[test/web/install] `authorizedKeys` must hold at least one public key"],
    ["a public key that is not a key line", { sshPublicKey: "AAAAC3Nza admin" }, "`sshPublicKey` must be an OpenSSH public key line (e.g. `ssh-ed25519 AAAA… comment`), got: `AAAAC3Nza admin`"],
    ["a reverse DNS name that is not a FQDN", { reverseDns: "web 1" }, "`reverseDns` must be a fully qualified domain name (e.g. web-1.example.org), got: `web 1`"],
    ["a label value with spaces", { labels: { role: "web server" } }, "`labels.role` must be empty or at most 63 of a-z A-Z 0-9 . _ -, starting and ending alphanumeric, got: `web server`"],
    ["the unlock port on 22", { unlockPort: 22 }, "[test/web/install] `unlockPort` must differ from `port` (22): the initrd has its own SSH server and host key, got: `22`"],
    ["a placement group id that is not an id", { placementGroupId: -3 }, "`placementGroupId` must be the positive integer id of an hcloud_placement_group, got: `-3`"],
  ])("refuses %s", (_case, overrides, message) => {
    expect(errorFor(overrides)).toContain(message);
  });

  it("lists every failure in one error, each under the path of the construct that checks it", () => {
    const message = errorFor({ hostName: "Web_1", deleteProtection: true, rebuildProtection: false, firewall: { sshSourceIps: ["nope"] } });
    expect(message.split("\n").filter((l) => l.startsWith("  ["))).toEqual([
      "  [test/web] `rebuildProtection` must equal `deleteProtection` (true): Hetzner sets both together, got: `false`",
      "  [test/web] `firewall.sshSourceIps[0]` must be an IPv4 or IPv6 CIDR (address/prefix, e.g. 203.0.113.7/32), got: `nope`",
      "  [test/web/install] `hostName` must be a valid hostname (a-z, 0-9, '-', at most 63, no '-' at either end), got: `Web_1`",
    ]);
  });

  it("refuses a second server of the same name in one stack at synth, and says which construct has it", () => {
    const stack = new TerraformStack(testApp(), "dup");
    new HcloudNixosServer(stack, "a", baseProps({ hostName: "web-1" }));
    new HcloudNixosServer(stack, "b", baseProps({ hostName: "web-1", sshPublicKey: OTHER_KEY }));
    expect(() => Testing.synth(stack, true)).toThrow(
      "[dup/b/install] `hostName` must be unique in its stack and among installs that share `hostsDir`: dup/a/install installs it too (both would write hosts/web-1/ and overwrite each other's pins), got: `web-1`",
    );
  });

  it("refuses the same public key uploaded twice in one stack at synth, and points to sshKeyIds", () => {
    const stack = new TerraformStack(testApp(), "dupkey");
    new HcloudNixosServer(stack, "a", baseProps({ hostName: "a" }));
    new HcloudNixosServer(stack, "b", baseProps({ hostName: "b" }));
    expect(() => Testing.synth(stack, true)).toThrow(
      `[dupkey/b] \`sshPublicKey\` must be unique in the project (already uploaded by dupkey/a; create one SshKey and pass its id in \`sshKeyIds\`), got: \`${ADMIN_KEY}\``,
    );
  });

  it("never writes a server from invalid props, even when the app skips validation", () => {
    const stack = new TerraformStack(new App({ outdir: testApp().outdir, skipValidation: true }), "skip");
    new HcloudNixosServer(stack, "web", baseProps({ location: "fsn1-dc14" }));
    expect(() => Testing.synth(stack)).toThrow("skip/web: invalid props (the app skips validation, but these are never written):\n  `location` must be a Hetzner location");
  });

  it("allows the same name in two stacks whose records go to different hostsDirs", () => {
    const app = testApp();
    const one = new TerraformStack(app, "one");
    const two = new TerraformStack(app, "two");
    new HcloudNixosServer(one, "a", baseProps({ hostsDir: "hosts/one" }));
    new HcloudNixosServer(two, "a", baseProps({ hostsDir: "hosts/two" }));
    expect(() => [Testing.synth(one, true), Testing.synth(two, true)]).not.toThrow();
  });

  it("skips checks of values Terraform only knows at apply time (tokens)", () => {
    expect(() =>
      synthServer({
        privateNetwork: { networkId: Lazy.numberValue({ produce: () => 1 }), ipRange: later("10.0.1.0/24"), ip: later("10.0.1.10") },
        firewall: { sshSourceIps: Lazy.listValue({ produce: () => ["0.0.0.0/0"] }) },
        placementGroupId: Lazy.numberValue({ produce: () => 7 }),
        reverseDns: later("web-1.example.org"),
      }),
    ).not.toThrow();
  });

  it("accepts the edge values: 63-character names, /32 firewall sources, IPv6 CIDRs, the last usable private IP", () => {
    expect(() =>
      synthServer({
        hostName: "a".repeat(63),
        firewall: { sshSourceIps: ["203.0.113.7/32", "2001:db8:1234::/48", "::/0"] },
        privateNetwork: { networkId: 1, ipRange: "172.16.0.0/24", ip: "172.16.0.254" },
        labels: { "example.org/team": "", tier: "a.b_c-d" },
      }),
    ).not.toThrow();
  });
});
