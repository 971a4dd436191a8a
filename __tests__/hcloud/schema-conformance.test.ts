import { TerraformStack, Testing } from "cdktf";
import { HcloudProvider } from "../../.gen/providers/hcloud/provider";
import { Server } from "../../.gen/providers/hcloud/server";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkHcloudConformance, findHcloudSchema, HCLOUD_SCHEMA_PATH, hcloudSchemaSource, itWithHcloudSchema, loadHcloudSchema } from "../support/hcloud-schema";

function bareServerStack(): string {
  const app = Testing.app();
  const stack = new TerraformStack(app, "bare");
  new HcloudProvider(stack, "hcloud", {});
  new Server(stack, "web", {
    name: "web",
    serverType: "cx23",
    location: "fsn1",
    image: "debian-12",
    publicNet: [{ ipv4Enabled: true, ipv6Enabled: true }],
  });
  return Testing.synth(stack);
}

describe("where the hcloud schema comes from", () => {
  let tmp: string;
  beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ni-schema-"))));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  itWithHcloudSchema()("takes ../shared/providers/ beside the clone first, then the cache of an earlier terraform dump", () => {
    const real = hcloudSchemaSource().file as string;
    const cache = path.join(tmp, "cache.json");
    fs.copyFileSync(real, cache);
    expect(findHcloudSchema({ shared: real, cache })).toEqual({ file: real });
    expect(findHcloudSchema({ shared: path.join(tmp, "no-shared.json"), cache })).toEqual({ file: cache });
    expect(Object.keys(loadHcloudSchema(cache).resource_schemas)).toContain("hcloud_server");
  });

  it("on a plain clone (no ../shared, no cache) dumps it with terraform when the provider can be fetched, else says why", () => {
    const cache = path.join(tmp, "fresh", "cache.json");
    const source = findHcloudSchema({ shared: path.join(tmp, "no-shared.json"), cache });
    if (source.file) {
      expect(source.file).toBe(cache);
      expect(Object.keys(loadHcloudSchema(cache).resource_schemas)).toContain("hcloud_server");
    } else {
      expect(source.skipReason).toMatch(/^no hcloud 1\.59\.0 provider schema: .*no-shared\.json is absent and terraform init could not fetch hetznercloud\/hcloud 1\.59\.0 \(.+\)$/);
      expect(fs.existsSync(cache)).toBe(false);
    }
  });
});

describe("hcloud schema conformance checker", () => {
  itWithHcloudSchema()("reads the 1.59.0 provider schema", () => {
    expect(HCLOUD_SCHEMA_PATH).toMatch(/shared\/providers\/hetznercloud-hcloud-1\.59\.0\.schema\.json$/);
    expect(Object.keys(loadHcloudSchema().resource_schemas)).toContain("hcloud_server");
  });

  itWithHcloudSchema()("accepts a bare typed hcloud_server and counts what it checked", () => {
    const result = checkHcloudConformance(bareServerStack());
    expect(result.violations).toEqual([]);
    expect(result.checked).toEqual({ hcloud_server: 1, "provider.hcloud": 1 });
  });

  itWithHcloudSchema()("reports unknown, read-only, deprecated, missing and mistyped attributes and blocks", () => {
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

