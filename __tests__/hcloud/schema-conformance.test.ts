import { TerraformStack, Testing } from "cdktf";
import { HcloudProvider } from "../../.gen/providers/hcloud/provider";
import { Server } from "../../.gen/providers/hcloud/server";
import { checkHcloudConformance, HCLOUD_SCHEMA_PATH, loadHcloudSchema } from "../support/hcloud-schema";

function bareServerStack(): string {
  const app = Testing.app();
  const stack = new TerraformStack(app, "bare");
  new HcloudProvider(stack, "hcloud", {});
  new Server(stack, "web", {
    name: "web",
    serverType: "cx22",
    location: "fsn1",
    image: "debian-12",
    publicNet: [{ ipv4Enabled: true, ipv6Enabled: true }],
  });
  return Testing.synth(stack);
}

describe("hcloud schema conformance checker", () => {
  it("reads the 1.59.0 provider schema from ../shared beside the clone", () => {
    expect(HCLOUD_SCHEMA_PATH).toMatch(/shared\/providers\/hetznercloud-hcloud-1\.59\.0\.schema\.json$/);
    expect(Object.keys(loadHcloudSchema().resource_schemas)).toContain("hcloud_server");
  });

  it("accepts a bare typed hcloud_server and counts what it checked", () => {
    const result = checkHcloudConformance(bareServerStack());
    expect(result.violations).toEqual([]);
    expect(result.checked).toEqual({ hcloud_server: 1, "provider.hcloud": 1 });
  });

  it("reports unknown, read-only, deprecated, missing and mistyped attributes and blocks", () => {
    const doc = {
      resource: {
        hcloud_server: {
          web: {
            name: "web",
            datacenter: "fsn1-dc14",
            ipv4_address: "192.0.2.1",
            flavour: "large",
            backups: "yes",
            public_net: [{ ipv4_enabled: true, ipv6_bogus: true }],
            network: [{ ip: "10.0.1.5" }],
            lifecycle: { ignore_changes: ["user_data"] },
          },
        },
        hcloud_nonsense: { x: {} },
        terraform_data: { ignored: { input: 1 } },
      },
      provider: { hcloud: [{ token: "${var.t}", tokne: "x" }] },
    };
    expect(checkHcloudConformance(doc).violations.sort()).toEqual(
      [
        "hcloud_nonsense.x: unknown resource type",
        "hcloud_server.web.backups: expected bool, got \"yes\"",
        "hcloud_server.web.datacenter: deprecated attribute is set",
        "hcloud_server.web.flavour: unknown attribute or block",
        "hcloud_server.web.ipv4_address: read-only (computed) attribute is set",
        "hcloud_server.web.network[0].network_id: required attribute is missing",
        "hcloud_server.web.public_net[0].ipv6_bogus: unknown attribute or block",
        "hcloud_server.web.server_type: required attribute is missing",
        "provider.hcloud[0].tokne: unknown attribute or block",
      ].sort(),
    );
  });
});

describe("typed hcloud bindings", () => {
  it("pin the provider source and the version the bindings were generated from in required_providers", () => {
    // Like `cdktf get`: the generated provider pins the version it was generated from
    // (an exact constraint), so `terraform init` fetches the schema the types were checked against.
    const doc = JSON.parse(bareServerStack());
    expect(doc.terraform.required_providers.hcloud).toEqual({ source: "hetznercloud/hcloud", version: "1.59.0" });
  });

  it("leave the API token to HCLOUD_TOKEN: no token in the synthesized provider block", () => {
    const saved = process.env.HCLOUD_TOKEN;
    process.env.HCLOUD_TOKEN = "secret-token-value-from-env";
    try {
      const text = bareServerStack();
      expect(JSON.parse(text).provider.hcloud).toEqual([{}]);
      expect(text).not.toContain("secret-token-value-from-env");
    } finally {
      if (saved === undefined) delete process.env.HCLOUD_TOKEN;
      else process.env.HCLOUD_TOKEN = saved;
    }
  });

  it("are generated from the same constraint cdktf.json lists for `cdktf get`", () => {
    const cdktfJson = require("../../cdktf.json");
    const constraints = require("../../.gen/constraints.json");
    expect(cdktfJson.terraformProviders).toContain("hetznercloud/hcloud@~> 1.59");
    expect(constraints.providers).toEqual({ "hetznercloud/hcloud": "~> 1.59" });
    expect(require("../../.gen/versions.json")).toEqual({ "registry.terraform.io/hetznercloud/hcloud": "1.59.0" });
  });
});

