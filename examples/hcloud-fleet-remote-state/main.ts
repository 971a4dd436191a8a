/**
 * A fleet split into stacks, one a group of hosts, each with its own Terraform state in
 * an S3 bucket (AWS, or an S3-compatible store such as Hetzner Object Storage): pipeline
 * runners apply the groups in parallel, and no state file lives on a laptop. The backend
 * is configured from the environment, so the synthesized output names no machine's path
 * and no credential (docs/fleet.md).
 *
 *   export HCLOUD_TOKEN=…                                   # hcloud provider, at plan/apply
 *   export AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=…      # the S3 backend, at init
 *   export FLEET_STATE_BUCKET=acme-tfstate FLEET_STATE_REGION=fsn1 \
 *          FLEET_STATE_ENDPOINT=https://fsn1.your-objectstorage.com
 *   hcloud ssh-key create --name fleet-admin --public-key-from-file ~/.ssh/id_ed25519.pub
 *   npx cdktf deploy 'fleet-*' --app "npx ts-node --transpile-only examples/hcloud-fleet-remote-state/main.ts"
 *   # or, per runner: terraform -chdir=cdktf.out/stacks/fleet-web init && terraform -chdir=… apply -parallelism=50
 */
import { App, S3Backend, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { HcloudNixosServer, KexecBundle, PassphraseSource } from "cdktf-nixos-installer";
import { provider } from "cdktf-nixos-installer/hcloud";
import { adminPublicKey, INSTALLER_FLAKE } from "../hcloud-single/main";

/** Where the groups keep their state: read from the environment by `stateFromEnv`. */
export interface FleetState {
  /** Bucket of the state files ($FLEET_STATE_BUCKET). */
  readonly bucket: string;
  /** Region of the bucket ($FLEET_STATE_REGION), e.g. `eu-central-1`, or `fsn1` for Hetzner. */
  readonly region: string;
  /** Endpoint of an S3-compatible store ($FLEET_STATE_ENDPOINT). @default - AWS S3 */
  readonly endpoint?: string;
  /** Key prefix of the state files ($FLEET_STATE_PREFIX); a group's state is PREFIX/STACK.tfstate. @default "nixos-fleet" */
  readonly prefix: string;
}

/** The environment variables `stateFromEnv` reads, with what each one holds. */
export const FLEET_STATE_ENV = {
  FLEET_STATE_BUCKET: "the bucket that holds the state files (required)",
  FLEET_STATE_REGION: "the bucket's region, e.g. eu-central-1, or fsn1 for Hetzner Object Storage (required)",
  FLEET_STATE_ENDPOINT: "the endpoint of an S3-compatible store, e.g. https://fsn1.your-objectstorage.com (unset: AWS S3)",
  FLEET_STATE_PREFIX: 'the key prefix of the state files (default "nixos-fleet")',
} as const;

/** The state settings from the environment; a missing one stops synth naming every variable that is missing. */
export function stateFromEnv(env: NodeJS.ProcessEnv = process.env): FleetState {
  const value = (name: keyof typeof FLEET_STATE_ENV) => env[name]?.trim() || undefined;
  const missing = (["FLEET_STATE_BUCKET", "FLEET_STATE_REGION"] as const).filter((name) => !value(name));
  if (missing.length > 0) {
    throw new Error(
      `the fleet's remote state is configured from the environment: set ${missing.join(" and ")} ` +
        `(${missing.map((m) => `${m}: ${FLEET_STATE_ENV[m]}`).join("; ")}). Credentials stay in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, read by terraform init.`,
    );
  }
  const endpoint = value("FLEET_STATE_ENDPOINT");
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
    throw new Error(`FLEET_STATE_ENDPOINT must be an http(s) URL (e.g. https://fsn1.your-objectstorage.com), got: \`${endpoint}\``);
  }
  return { bucket: value("FLEET_STATE_BUCKET") as string, region: value("FLEET_STATE_REGION") as string, endpoint, prefix: value("FLEET_STATE_PREFIX") ?? "nixos-fleet" };
}

/** One group of identical hosts: one stack, one state, one pipeline job. */
export interface FleetGroup {
  /** Group name: the stack is `fleet-NAME`, the hosts NAME-1 … NAME-COUNT. */
  readonly name: string;
  readonly count: number;
  readonly serverType: string;
  readonly location: string;
}

/** The example's fleet: two groups, applied side by side. */
export const FLEET_GROUPS: FleetGroup[] = [
  { name: "web", count: 3, serverType: "cx23", location: "fsn1" },
  { name: "db", count: 2, serverType: "cx33", location: "nbg1" },
];

export interface FleetGroupOptions {
  readonly group: FleetGroup;
  readonly state: FleetState;
  /** Root's public key on the installers and the installed systems. @default adminPublicKey() */
  readonly authorizedKey?: string;
  /**
   * Name of an `hcloud_ssh_key` that already exists in the project, for root on the base
   * image. Hetzner refuses the same key twice in a project, so the groups share one made once.
   * @default "fleet-admin"
   */
  readonly sshKeyName?: string;
}

export class FleetGroupStack extends TerraformStack {
  public readonly hosts: HcloudNixosServer[] = [];

  constructor(scope: Construct, id: string, o: FleetGroupOptions) {
    super(scope, id);
    const { state } = o;
    new S3Backend(this, {
      bucket: state.bucket,
      key: `${state.prefix}/${id}.tfstate`,
      region: state.region,
      encrypt: state.endpoint === undefined,
      // An S3-compatible store has no AWS account, STS or region list to check against,
      // and (Terraform ≥ 1.11) may refuse the AWS SDK's default checksums.
      ...(state.endpoint !== undefined
        ? { endpoints: { s3: state.endpoint }, skipCredentialsValidation: true, skipRegionValidation: true, skipRequestingAccountId: true, skipS3Checksum: true }
        : {}),
    });
    // State locking in the bucket itself (Terraform ≥ 1.10): no DynamoDB table, which an
    // S3-compatible store does not have. cdktf 0.21's S3Backend has no prop for it yet.
    this.addOverride("terraform.backend.s3.use_lockfile", true);
    new provider.HcloudProvider(this, "hcloud", {});

    const authorizedKey = o.authorizedKey ?? adminPublicKey();
    const bundle = KexecBundle.fromFlake({ flake: INSTALLER_FLAKE, system: "x86_64-linux" });
    for (let i = 1; i <= o.group.count; i++) {
      const hostName = `${o.group.name}-${i}`;
      this.hosts.push(
        new HcloudNixosServer(this, hostName, {
          hostName,
          serverType: o.group.serverType,
          location: o.group.location,
          sshKeyIds: [o.sshKeyName ?? "fleet-admin"],
          authorizedKeys: [authorizedKey],
          labels: { group: o.group.name, "managed-by": "cdktf-nixos-installer" },
          passphrase: PassphraseSource.fromCommand(`pass show hosts/${hostName}/disk`),
          bundle,
        }),
      );
    }
  }
}

/** Builds the app with one stack a group (tests call this; `main` synthesizes it). */
export function buildHcloudFleet(app: App = new App(), o: { state?: FleetState; authorizedKey?: string; groups?: FleetGroup[] } = {}): App {
  const state = o.state ?? stateFromEnv();
  for (const group of o.groups ?? FLEET_GROUPS) new FleetGroupStack(app, `fleet-${group.name}`, { group, state, authorizedKey: o.authorizedKey });
  return app;
}

if (require.main === module) {
  buildHcloudFleet().synth();
}
