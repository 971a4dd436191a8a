import { App, Testing } from "cdktf";
import { buildHcloudArmIpv6Only } from "../../examples/hcloud-arm-ipv6-only/main";
import { buildHcloudPrivateNetwork, DB_HOSTS } from "../../examples/hcloud-private-network/main";
import { buildHcloudSingle } from "../../examples/hcloud-single/main";
import { checkHcloudConformance, itWithHcloudSchema } from "../support/hcloud-schema";
import { ADMIN_KEY, normalize, serverTypeRead, testApp } from "./helpers";

/** Synthesizes every stack of an example app; returns stack name → parsed cdk.tf.json. */
function synthExample(build: (app: App, options: { sshPublicKey: string }) => App): Record<string, any> {
  const app = build(testApp(), { sshPublicKey: ADMIN_KEY });
  const out: Record<string, any> = {};
  for (const stack of app.node.children) out[stack.node.id] = JSON.parse(Testing.synth(stack as never));
  return out;
}

/**
 * The snapshot keeps everything the hcloud side writes and, of the install chain, its
 * identity (triggers): the chain's deploy-script plumbing belongs to NixosInstall's tests.
 */
function snapshotView(doc: any): string {
  const copy = JSON.parse(JSON.stringify(doc));
  delete copy.terraform?.backend;
  for (const phase of Object.values<any>(copy.resource?.terraform_data ?? {})) delete phase.provisioner;
  return normalize(JSON.stringify(copy, null, 2));
}

const examples = {
  "hcloud-single": buildHcloudSingle,
  "hcloud-arm-ipv6-only": buildHcloudArmIpv6Only,
  "hcloud-private-network": buildHcloudPrivateNetwork,
};

describe.each(Object.entries(examples))("example %s", (name, build) => {
  const stacks = synthExample(build);

  it("synthesizes one stack named after the example", () => {
    expect(Object.keys(stacks)).toEqual([name]);
  });

  it("matches its snapshot", () => {
    expect(snapshotView(stacks[name])).toMatchSnapshot();
  });

  itWithHcloudSchema()("conforms to the hcloud 1.59.0 schema in every hcloud resource and the provider block", () => {
    const { violations, checked } = checkHcloudConformance(stacks[name]);
    expect(violations).toEqual([]);
    expect(checked.hcloud_server).toBeGreaterThan(0);
    // The data sources the plan-time checks read: one a distinct server type, one a
    // distinct image and architecture, however many servers share them.
    const servers = Object.values<any>(stacks[name].resource.hcloud_server);
    expect(checked["data.hcloud_server_type"]).toBe(new Set(servers.map((s) => s.server_type)).size);
    expect(checked["data.hcloud_image"]).toBe(new Set(servers.map((s) => s.image)).size);
    expect(checked["provider.hcloud"]).toBe(1);
  });

  it("pins the provider and leaves the token to HCLOUD_TOKEN", () => {
    const doc = stacks[name];
    expect(doc.terraform.required_providers.hcloud).toEqual({ source: "hetznercloud/hcloud", version: "1.59.0" });
    expect(doc.provider.hcloud).toEqual([{}]);
    expect(JSON.stringify(doc)).not.toMatch(/token/i);
  });

  it("keeps its state beside cdktf.json through a relative path (relocatable output)", () => {
    expect(stacks[name].terraform.backend).toEqual({ local: { path: `../../../terraform.${name}.tfstate` } });
  });

  it("pins every server's first contact (no trust on first use)", () => {
    const text = JSON.stringify(stacks[name].resource.terraform_data);
    expect(text).not.toContain('"NI_TRUST_ON_FIRST_USE":"true"');
    const keys = Object.keys(stacks[name].resource.tls_private_key);
    for (const key of keys) expect(text).toContain(`trimspace(tls_private_key.${key}.public_key_openssh)`);
  });
});

describe("example specifics", () => {
  it("hcloud-single reads the passphrase from a command", () => {
    const doc = synthExample(buildHcloudSingle)["hcloud-single"];
    expect(JSON.stringify(doc)).toContain("pass show hosts/web-1/disk");
  });

  it("hcloud-arm-ipv6-only makes an Ampere server without IPv4 and reaches it over IPv6", () => {
    const doc = synthExample(buildHcloudArmIpv6Only)["hcloud-arm-ipv6-only"];
    const [serverName, server] = Object.entries<any>(doc.resource.hcloud_server)[0];
    expect(serverTypeRead(doc, server).name).toMatch(/^cax/);
    expect(server.public_net).toEqual([{ ipv4_enabled: false, ipv6_enabled: true }]);
    const triggers = Object.values<any>(doc.resource.terraform_data).find((r) => r.triggers_replace.phase === "probe").triggers_replace;
    expect(triggers.host).toBe(`\${hcloud_server.${serverName}.ipv6_address}`);
    expect(triggers.system).toBe("aarch64-linux");
  });

  it("hcloud-private-network puts three servers on one network with their fixed IPs, one shared key", () => {
    const doc = synthExample(buildHcloudPrivateNetwork)["hcloud-private-network"];
    expect(Object.keys(doc.resource.hcloud_network)).toHaveLength(1);
    expect(Object.keys(doc.resource.hcloud_ssh_key)).toHaveLength(1);
    const servers = Object.values<any>(doc.resource.hcloud_server);
    expect(servers.map((s) => s.network[0].ip).sort()).toEqual(DB_HOSTS.map((h) => h.ip));
    const networkRef = `\${hcloud_network.${Object.keys(doc.resource.hcloud_network)[0]}.id}`;
    for (const s of servers) {
      expect(s.network[0].network_id).toBe(networkRef);
      expect(s.depends_on).toHaveLength(1);
      expect(s).toMatchObject({ delete_protection: true, rebuild_protection: true, backups: true });
    }
  });
});
