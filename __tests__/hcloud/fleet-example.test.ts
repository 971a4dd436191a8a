// examples/hcloud-fleet-remote-state: one stack a group, state in S3 configured from the
// environment; synthesized the way `cdktf synth` does, in a throwaway project directory.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App } from "cdktf";
import { buildHcloudFleet, FLEET_GROUPS, stateFromEnv } from "../../examples/hcloud-fleet-remote-state/main";
import { checkHcloudConformance, itWithHcloudSchema } from "../support/hcloud-schema";
import { ADMIN_KEY, REPO_ROOT } from "./helpers";

const ENV = { FLEET_STATE_BUCKET: "acme-tfstate", FLEET_STATE_REGION: "fsn1", FLEET_STATE_ENDPOINT: "https://fsn1.your-objectstorage.com" };

/** Every file under dir, with its text. */
function filesUnder(dir: string): [string, string][] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .map((f) => [f, fs.readFileSync(f, "utf8")]);
}

function synthInProject(env: NodeJS.ProcessEnv): { project: string; stacks: Record<string, any> } {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-project-"));
  const cwd = process.cwd();
  process.chdir(project);
  try {
    buildHcloudFleet(new App({ outdir: "cdktf.out" }), { state: stateFromEnv(env), authorizedKey: ADMIN_KEY }).synth();
  } finally {
    process.chdir(cwd);
  }
  const stacksDir = path.join(project, "cdktf.out", "stacks");
  const stacks = Object.fromEntries(fs.readdirSync(stacksDir).map((s) => [s, JSON.parse(fs.readFileSync(path.join(stacksDir, s, "cdk.tf.json"), "utf8"))]));
  return { project, stacks };
}

describe("example hcloud-fleet-remote-state", () => {
  const { project, stacks } = synthInProject(ENV);
  afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

  it("synthesizes one stack a group, each host of the group in it", () => {
    expect(Object.keys(stacks).sort()).toEqual(FLEET_GROUPS.map((g) => `fleet-${g.name}`).sort());
    for (const g of FLEET_GROUPS) {
      const names = Object.values<any>(stacks[`fleet-${g.name}`].resource.hcloud_server).map((s) => s.name);
      expect(names).toEqual(Array.from({ length: g.count }, (_, i) => `${g.name}-${i + 1}`));
    }
  });

  it("keeps each group's state in its own key of the bucket from the environment, locked in the bucket", () => {
    for (const name of Object.keys(stacks)) {
      expect(stacks[name].terraform.backend).toEqual({
        s3: {
          bucket: "acme-tfstate",
          key: `nixos-fleet/${name}.tfstate`,
          region: "fsn1",
          encrypt: false,
          endpoints: { s3: "https://fsn1.your-objectstorage.com" },
          skip_credentials_validation: true,
          skip_region_validation: true,
          skip_requesting_account_id: true,
          skip_s3_checksum: true,
          use_lockfile: true,
        },
      });
    }
  });

  it("writes no absolute path of the machine that ran synth into any synthesized file", () => {
    const files = filesUnder(path.join(project, "cdktf.out"));
    expect(files.length).toBeGreaterThan(Object.keys(stacks).length);
    for (const [file, text] of files) {
      for (const machinePath of [project, fs.realpathSync(project), REPO_ROOT]) {
        if (text.includes(machinePath)) throw new Error(`${path.relative(project, file)} names ${machinePath}`);
      }
    }
    // The deploy scripts and the host records are reached relative to the stack directory.
    const settings = Object.values<any>(stacks["fleet-web"].locals)[0];
    expect(settings.NI_HOSTS_DIR).toBe("../../../hosts");
  });

  it("uses AWS S3 itself (encrypted, no endpoint) when FLEET_STATE_ENDPOINT is unset, under FLEET_STATE_PREFIX", () => {
    const state = stateFromEnv({ FLEET_STATE_BUCKET: "b", FLEET_STATE_REGION: "eu-central-1", FLEET_STATE_PREFIX: "prod" });
    expect(state).toEqual({ bucket: "b", region: "eu-central-1", endpoint: undefined, prefix: "prod" });
    const app = buildHcloudFleet(new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), "fleet-aws-")) }), { state, authorizedKey: ADMIN_KEY, groups: [FLEET_GROUPS[0]] });
    app.synth();
    const doc = JSON.parse(fs.readFileSync(path.join(app.outdir, "stacks", "fleet-web", "cdk.tf.json"), "utf8"));
    expect(doc.terraform.backend).toEqual({ s3: { bucket: "b", key: "prod/fleet-web.tfstate", region: "eu-central-1", encrypt: true, use_lockfile: true } });
    fs.rmSync(app.outdir, { recursive: true, force: true });
  });

  it("stops synth naming every missing variable and where credentials go", () => {
    expect(() => stateFromEnv({})).toThrow(
      "the fleet's remote state is configured from the environment: set FLEET_STATE_BUCKET and FLEET_STATE_REGION (FLEET_STATE_BUCKET: the bucket that holds the state files (required); " +
        "FLEET_STATE_REGION: the bucket's region, e.g. eu-central-1, or fsn1 for Hetzner Object Storage (required)). Credentials stay in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, read by terraform init.",
    );
    expect(() => stateFromEnv({ ...ENV, FLEET_STATE_ENDPOINT: "fsn1.your-objectstorage.com" })).toThrow(
      "FLEET_STATE_ENDPOINT must be an http(s) URL (e.g. https://fsn1.your-objectstorage.com), got: `fsn1.your-objectstorage.com`",
    );
  });

  itWithHcloudSchema()("conforms to the hcloud 1.59.0 schema in every group", () => {
    for (const name of Object.keys(stacks)) {
      // Without cdktf's per-resource metadata ("//"), as Testing.synth gives it.
      const doc = JSON.parse(JSON.stringify(stacks[name], (key, value) => (key === "//" ? undefined : value)));
      const { violations, checked } = checkHcloudConformance(doc);
      expect(violations).toEqual([]);
      expect(checked.hcloud_server).toBeGreaterThan(0);
    }
  });
});
