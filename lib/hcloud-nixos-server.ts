/**
 * HcloudNixosServer: one Hetzner Cloud server, created from a Debian base image whose
 * first-contact SSH host key Terraform made (no trust on first use), and the NixosInstall
 * chain (probe → kexec → install → unlock → verify) run against it.
 */
import { Fn, FOR_EXPRESSION_VALUE, forExpression, ITerraformDependable, Precondition, TerraformProvider, TerraformStack, Token } from "cdktf";
import { Construct } from "constructs";
import { DataHcloudImage } from "../.gen/providers/hcloud/data-hcloud-image";
import { DataHcloudServerType } from "../.gen/providers/hcloud/data-hcloud-server-type";
import { Firewall, FirewallRule } from "../.gen/providers/hcloud/firewall";
import { HcloudProvider } from "../.gen/providers/hcloud/provider";
import { Rdns } from "../.gen/providers/hcloud/rdns";
import { Server } from "../.gen/providers/hcloud/server";
import { SshKey } from "../.gen/providers/hcloud/ssh-key";
import { writeConditionsAsBlocksInHcl } from "./hcl-preconditions";
import { HostConfiguration } from "./host-configuration";
import { KexecBundle } from "./kexec-bundle";
import { NixosInstall, NixosInstallProps, PhaseTimeouts } from "./nixos-install";
import { PassphraseSource } from "./passphrase-source";
import { isToken, listExpression, markCheckedByParent, PropChecks, PropErrors } from "./prop-errors";
import { SshIdentity } from "./ssh-identity";
import { TlsPrivateKey } from "./tls-private-key";
import { TlsProvider } from "./tls-provider";
import { useV8StackFormatting } from "./stack-trace-formatting";
import {
  Cidr,
  cidrContains,
  hcloudArchitecture,
  isFqdn,
  isLabelKey,
  isLabelValue,
  isNetworkAddress,
  networkOf,
  parseCidr,
  parseIpv4,
  PRIVATE_IPV4_RANGES,
  serverTypeConditions,
  ServerTypeChecks,
} from "./hcloud-validation";
import { isPublicKey, isTerraformSafeText, TERRAFORM_TEXT_RULE } from "./validation";

/** Nix system of a Hetzner Cloud server. */
export type HcloudSystem = "x86_64-linux" | "aarch64-linux";

/**
 * Debian 13 (trixie): the newest Debian the chain is tested against as the base system
 * (the lab's hcloud-debian13 profile; Debian 12 stays supported: `image: "debian-12"`).
 */
export const DEFAULT_HCLOUD_BASE_IMAGE = "debian-13";

/** Attachment of the server to a Hetzner Cloud private network, with a fixed address. */
export interface HcloudPrivateNetwork {
  /** ID of the `hcloud_network` (e.g. `Token.asNumber(network.id)`). */
  readonly networkId: number;
  /**
   * IP range of the subnet the server joins (e.g. `10.0.1.0/24`); `ip` must lie in it.
   * Must be inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.
   */
  readonly ipRange: string;
  /** Fixed private IPv4 address of the server (not the range's network, gateway or broadcast address). */
  readonly ip: string;
  /**
   * The `hcloud_network_subnet` the server must wait for: the API refuses an attachment
   * to a network whose subnet does not exist yet.
   * @default - no explicit dependency
   */
  readonly subnet?: ITerraformDependable;
  /** Extra private IPs on the same network. @default [] */
  readonly aliasIps?: string[];
}

/** An `hcloud_firewall` in front of the server's public interface. */
export interface HcloudFirewallOptions {
  /** CIDRs that may reach SSH on port 22 (base system, installer, installed system). */
  readonly sshSourceIps: string[];
  /** CIDRs that may reach the initrd's unlock port. @default - the same as `sshSourceIps` */
  readonly unlockSourceIps?: string[];
  /** Allow ICMP and ICMPv6 from anywhere (ping, path MTU discovery). @default true */
  readonly allowIcmp?: boolean;
}

/** Props of HcloudNixosServer: the server, its network and firewall, and the install. */
export interface HcloudNixosServerProps {
  /** Server name in Hetzner Cloud and the NixOS host name: one DNS label (a-z, 0-9, '-', at most 63). */
  readonly hostName: string;
  /**
   * Server type, e.g. `cx23`, `cpx22`, `cax11`. Read through `data "hcloud_server_type"`:
   * the plan fails, before anything is created, when its architecture is not the bundle's,
   * it has less than 2 GB of memory, it is not offered in `location`, or Hetzner deprecated
   * it there (see `serverTypeUsableUntil`).
   */
  readonly serverType: string;
  /** Location, e.g. `fsn1`, `nbg1`, `hel1`, `ash`, `hil`, `sin`. (Never a datacenter: that attribute is deprecated.) */
  readonly location: string;
  /**
   * Name (or numeric id) of the system image the server boots first; the chain kexecs out
   * of it. Resolved through `data "hcloud_image"` for the bundle's architecture, newest first.
   * @default "debian-13"
   */
  readonly image?: string;
  /**
   * Date (`YYYY-MM-DD`, UTC) until which a server type Hetzner has deprecated in `location`
   * must stay orderable there: such a type passes the plan only when its `unavailable_after`
   * is later. Set it to accept a deprecated type for a while (a reinstall or a replacement
   * server needs the type orderable).
   * @default - a type deprecated in `location` fails the plan
   */
  readonly serverTypeUsableUntil?: string;
  /**
   * Check at plan time that `serverType` is offered in `location` and not deprecated there.
   * The checks run on every plan: set false to keep planning a server that already runs
   * on a type Hetzner has since retired. Architecture and memory are checked always.
   * @default true
   */
  readonly checkServerTypeAvailability?: boolean;
  /**
   * Public key for root on the base system: creates an `hcloud_ssh_key` named after the host.
   * Hetzner refuses the same key twice in one project: for several servers create one
   * `SshKey` yourself and pass its id in `sshKeyIds`.
   * @default - none; then `sshKeyIds` is required
   */
  readonly sshPublicKey?: string;
  /** IDs (or names) of `hcloud_ssh_key`s that already exist. @default [] */
  readonly sshKeyIds?: string[];
  /**
   * Public keys for root on the installer and the installed system.
   * @default - `[sshPublicKey]`; required when `sshPublicKey` is not given
   */
  readonly authorizedKeys?: string[];
  /** Labels of the server (and its firewall and SSH key). @default {} */
  readonly labels?: Record<string, string>;
  /** Give the server a public IPv4 address. @default true */
  readonly ipv4?: boolean;
  /** Give the server a public IPv6 /64. @default true */
  readonly ipv6?: boolean;
  /** Attach the server to a private network with a fixed IP. @default - no private network */
  readonly privateNetwork?: HcloudPrivateNetwork;
  /** ID of an `hcloud_placement_group` (e.g. `Token.asNumber(group.id)`). @default - none */
  readonly placementGroupId?: number;
  /** Hetzner's daily backups (extra cost). @default false */
  readonly backups?: boolean;
  /** Protect the server from deletion (set `rebuildProtection` to the same value). @default false */
  readonly deleteProtection?: boolean;
  /** Protect the server from rebuilds; Hetzner requires it to equal `deleteProtection`. @default - `deleteProtection` */
  readonly rebuildProtection?: boolean;
  /** Create an `hcloud_firewall` that lets only SSH and the unlock port in. @default - no firewall */
  readonly firewall?: HcloudFirewallOptions;
  /** PTR record (a FQDN) for the server's IPv4 address and the IPv6 address `::1` of its /64. @default - Hetzner's default */
  readonly reverseDns?: string;

  /** Where the disk passphrase comes from at apply time. */
  readonly passphrase: PassphraseSource;
  /** The kexec installer; its system picks the image's architecture, and the server type's must match it (checked at plan). */
  readonly bundle: KexecBundle;
  /** What is installed: the host template or your flake directory (see NixosInstall). @default HostConfiguration.template() */
  readonly configuration?: HostConfiguration;
  /** Where the system is built: "target" or "deployer" (see NixosInstall). @default "target" */
  readonly buildOn?: string;
  /** How the deploy machine authenticates as root. @default SshIdentity.agent() */
  readonly identity?: SshIdentity;
  /** Disks to install onto. @default - the disk holding the base system's root */
  readonly disks?: string[];
  /** What may be wiped: `"base-system"` or `"everything"` (see NixosInstall). @default "base-system" */
  readonly wipe?: string;
  /** Port of SSH in the initrd for unlocking. @default 2222 */
  readonly unlockPort?: number;
  /** Phase timeouts in seconds. @default - NixosInstall's defaults */
  readonly timeouts?: PhaseTimeouts;
  /** Where finished installs leave `hosts/NAME/`. @default "hosts" */
  readonly hostsDir?: string;
  /** Resource type of the phases: `"terraform_data"` or `"null_resource"`. @default "terraform_data" */
  readonly resourceType?: string;
}

/** Per-stack registry of uploaded public keys, so a duplicate fails at synth instead of at apply. */
const claimedKeys = new WeakMap<TerraformStack, Map<string, HcloudNixosServer>>();
/** Stacks whose providers this module already found or added. */
const providersReady = new WeakSet<TerraformStack>();

const DEFAULT_UNLOCK_PORT = 2222;

/**
 * One Hetzner Cloud server, created from a Debian base image whose first-contact SSH host
 * key Terraform made (no trust on first use), and the NixosInstall chain run against it.
 */
export class HcloudNixosServer extends Construct {
  /** The `hcloud_server`. */
  public readonly server: Server;
  /** The `hcloud_ssh_key` made from `sshPublicKey`, if one was given. */
  public readonly sshKey?: SshKey;
  /** The `hcloud_firewall`, if `firewall` was given. */
  public readonly firewall?: Firewall;
  /** PTR records, one an address, if `reverseDns` was given. */
  public readonly reverseDns: Rdns[];
  /** Throwaway ed25519 host key of the base image: the chain's first-contact key. */
  public readonly baseHostKey: TlsPrivateKey;
  /** The install chain. */
  public readonly install: NixosInstall;
  /** What this construct handed to the install chain (address, first-contact key, hoster facts). */
  public readonly installProps: NixosInstallProps;
  /**
   * `data "hcloud_server_type"` of `serverType`: what the plan-time checks read. One a
   * stack for each distinct type, shared by the servers of that type.
   */
  public readonly serverType: DataHcloudServerType;
  /**
   * `data "hcloud_image"` of `image` for the bundle's architecture. One a stack for each
   * distinct image and architecture, shared by the servers that boot it.
   */
  public readonly image: DataHcloudImage;
  /** Nix system of the server: the bundle's (the server type's architecture is checked against it at plan). */
  public readonly system: HcloudSystem;
  /** The address the chain connects to: IPv4, or IPv6 when IPv6-only, or the private IP. */
  public readonly address: string;

  /** `SHA256:…` fingerprint of the base image's host key (known after apply), as `ssh-keygen -l` prints it. */
  public get baseHostKeyFingerprint(): string {
    // A getter: the reference is made only for the hosts whose fingerprint is read.
    return this.baseHostKey.publicKeyFingerprintSha256;
  }

  constructor(scope: Construct, id: string, props: HcloudNixosServerProps) {
    super(scope, id);
    // Tokens made here carry V8-formatted creation stacks, cheap under ts-node too (lib/stack-trace-formatting.ts).
    const restoreStackFormatting = useV8StackFormatting();
    try {
      const stack = TerraformStack.of(this);
      this.system = props.bundle?.system === "aarch64-linux" ? "aarch64-linux" : "x86_64-linux";
      const ipv4 = props.ipv4 ?? true;
      const ipv6 = props.ipv6 ?? true;
      const deleteProtection = props.deleteProtection ?? false;
      const rebuildProtection = props.rebuildProtection ?? deleteProtection;
      const unlockPort = props.unlockPort ?? DEFAULT_UNLOCK_PORT;

      // Checked at synth with every other construct's props (node.addValidation); the
      // props this construct hands to NixosInstall are checked there, under its path.
      const keyOwner = claimKey(stack, props.sshPublicKey, this);
      const checks = new PropChecks(this, (errors) =>
        validateProps(errors, props, { ipv4, ipv6, deleteProtection, rebuildProtection }, keyOwner === this ? undefined : keyOwner),
      );
      ensureProviders(stack);

      this.sshKey = props.sshPublicKey
        ? new SshKey(this, "ssh-key", { name: props.hostName, publicKey: props.sshPublicKey, labels: props.labels })
        : undefined;

      this.baseHostKey = new TlsPrivateKey(this, "base-host-key", { algorithm: "ED25519" });

      this.firewall = props.firewall
        ? new Firewall(this, "firewall", {
            name: props.hostName,
            labels: props.labels,
            rule: firewallRules(props.firewall, unlockPort),
            lifecycle: preconditionsFor([
              ["firewall.sshSourceIps", props.firewall.sshSourceIps],
              ["firewall.unlockSourceIps", props.firewall.unlockSourceIps],
            ]),
          })
        : undefined;

      // Read once a stack for each distinct image, and for each distinct type with the
      // checks of a location: a fleet of one type in one location adds no tokens and no
      // conditions a server, so synth stays fast (docs/decisions/synth-stack-traces.md).
      const image = props.image ?? DEFAULT_HCLOUD_BASE_IMAGE;
      const reads = hcloudReadsOf(stack);
      const typeRead = reads.serverType(props.serverType, {
        system: this.system,
        location: props.location,
        usableUntil: isIsoDate(props.serverTypeUsableUntil) ? props.serverTypeUsableUntil : undefined,
        availability: props.checkServerTypeAvailability ?? true,
      });
      this.serverType = typeRead.data;
      const imageRead = reads.image(image, this.system);
      this.image = imageRead.data;

      const network = props.privateNetwork;
      const listChecks = preconditionsFor([["privateNetwork.aliasIps", network?.aliasIps]], "/32")?.precondition ?? [];
      this.server = new Server(this, "server", {
        name: props.hostName,
        // Through the data source: the server waits for the type's checks, also when the
        // type is known only at apply.
        serverType: typeRead.name,
        location: props.location,
        image: imageRead.id,
        sshKeys: Token.isUnresolved(props.sshKeyIds)
          ? Fn.concat([this.sshKey ? [this.sshKey.id] : [], props.sshKeyIds as string[]])
          : [...(this.sshKey ? [this.sshKey.id] : []), ...(props.sshKeyIds ?? [])],
        userData: baseImageUserData(this.baseHostKey),
        labels: props.labels,
        publicNet: [{ ipv4Enabled: ipv4, ipv6Enabled: ipv6 }],
        network: network ? [{ networkId: network.networkId, ip: network.ip, aliasIps: network.aliasIps ?? [] }] : undefined,
        placementGroupId: props.placementGroupId,
        backups: props.backups ?? false,
        deleteProtection,
        rebuildProtection,
        firewallIds: this.firewall ? [Token.asNumber(this.firewall.id)] : undefined,
        dependsOn: network?.subnet ? [network.subnet] : undefined,
        // The installed NixOS is not the image, the host key or the keys Hetzner put in
        // at creation: a later apply must never recreate (wipe) the server over them.
        // The server type's checks (postconditions of its data source) fail the plan before anything is created.
        lifecycle: { ignoreChanges: ["user_data", "image", "ssh_keys"], ...(listChecks.length > 0 ? { precondition: listChecks } : {}) },
      });

      checks.guard(this.server);
      for (const resource of [this.server, this.firewall]) if (resource?.lifecycle?.precondition) writeConditionsAsBlocksInHcl(resource);

      this.reverseDns = [];
      if (props.reverseDns) {
        const serverId = Token.asNumber(this.server.id);
        if (ipv4) this.reverseDns.push(new Rdns(this, "rdns-ipv4", { serverId, ipAddress: this.server.ipv4Address, dnsPtr: props.reverseDns }));
        if (ipv6) this.reverseDns.push(new Rdns(this, "rdns-ipv6", { serverId, ipAddress: this.server.ipv6Address, dnsPtr: props.reverseDns }));
      }

      this.address = ipv4 ? this.server.ipv4Address : ipv6 ? this.server.ipv6Address : String(network?.ip);

      this.installProps = {
        host: this.address,
        hostKey: this.baseHostKey.publicKeyOpenssh,
        trustOnFirstUse: false,
        identity: props.identity,
        // Given: checked by NixosInstall, under its path (an empty list too). Derived from
        // sshPublicKey: checked here, as `sshPublicKey`.
        authorizedKeys: props.authorizedKeys ?? (props.sshPublicKey !== undefined ? markCheckedByParent([props.sshPublicKey]) : []),
        passphrase: props.passphrase,
        hostName: props.hostName,
        disks: props.disks,
        wipe: props.wipe,
        bundle: props.bundle,
        configuration: props.configuration,
        buildOn: props.buildOn,
        unlockPort,
        timeouts: props.timeouts,
        hostsDir: props.hostsDir,
        resourceType: props.resourceType,
        // Made of this construct's props, checked here.
        hoster: markCheckedByParent({
          kind: "hcloud",
          serverId: this.server.id,
          location: props.location,
          serverType: props.serverType,
          ipv6Network: ipv6 ? this.server.ipv6Network : undefined,
          privateIps: !network ? undefined : Token.isUnresolved(network.aliasIps) ? Fn.concat([[network.ip], network.aliasIps as string[]]) : [network.ip, ...(network.aliasIps ?? [])],
        }),
      };
      this.install = new NixosInstall(this, "install", this.installProps);
    } finally {
      restoreStackFormatting();
    }
  }
}

/** The data sources a stack's servers share, the server type's checks with them. */
interface HcloudReads {
  serverType(name: string, checks: ServerTypeChecks): { data: DataHcloudServerType; name: string };
  image(image: string, system: HcloudSystem): { data: DataHcloudImage; id: string };
}

const readsOfStack = new WeakMap<TerraformStack, HcloudReads>();

/**
 * One `data "hcloud_server_type"` a distinct type, system, location and check setting,
 * carrying the type's checks as postconditions; one `data "hcloud_image"` a distinct image
 * and architecture. Each cdktf token captures and formats a stack trace when it is made,
 * and every condition is resolved again for each resource that carries it; sharing both is
 * what keeps a fleet's synth close to that of bare servers. A value given as a token is
 * keyed by its token string, so only the same token is shared.
 */
function hcloudReadsOf(stack: TerraformStack): HcloudReads {
  const known = readsOfStack.get(stack);
  if (known) return known;
  const scope = new Construct(stack, "hcloud-reads");
  const types = new Map<string, { data: DataHcloudServerType; name: string }>();
  const images = new Map<string, { data: DataHcloudImage; id: string }>();
  // Readable ids for plain names; a counter for anything else (a token, a typo the props check reports).
  const idOf = (kind: string, parts: string[], map: Map<string, unknown>) => {
    const readable = `${kind}-${parts.join("-")}`;
    return /^[a-z0-9-]+$/.test(readable) && !scope.node.tryFindChild(readable) ? readable : `${kind}-${map.size + 1}`;
  };
  const reads: HcloudReads = {
    serverType(name, o) {
      const key = JSON.stringify([String(name), o.system, String(o.location), o.usableUntil ?? null, o.availability]);
      let read = types.get(key);
      if (!read) {
        const parts = [String(name), String(o.location), hcloudArchitecture(o.system), ...(o.usableUntil ? [`until-${o.usableUntil}`] : []), ...(o.availability ? [] : ["unchecked"])];
        const data = new DataHcloudServerType(scope, idOf("server-type", parts, types), { name, lifecycle: { postcondition: serverTypeConditions(o) } });
        writeConditionsAsBlocksInHcl(data);
        types.set(key, (read = { data, name: data.name }));
      }
      return read;
    },
    image(image, system) {
      const architecture = hcloudArchitecture(system);
      const byId = /^[0-9]+$/.test(image);
      const key = byId ? String(image) : `${image}-${architecture}`;
      let read = images.get(key);
      if (!read) {
        // Newest image of that name for the architecture: Hetzner publishes debian-13 once per architecture.
        const data = new DataHcloudImage(scope, idOf("image", [key], images), byId ? { id: Number(image) } : { name: image, withArchitecture: architecture, mostRecent: true });
        images.set(key, (read = { data, id: Token.asString(data.id) }));
      }
      return read;
    },
  };
  readsOfStack.set(stack, reads);
  return reads;
}

/**
 * cloud-init user data for the base image: installs the Terraform-made ed25519 host key,
 * removes every other host key and generates none, and has sshd serve that key alone,
 * so the first SSH contact already checks a key the chain knows.
 */
function baseImageUserData(key: TlsPrivateKey): string {
  const cloudConfig = {
    ssh_deletekeys: true,
    ssh_genkeytypes: [],
    ssh_keys: {
      ed25519_private: key.privateKeyOpenssh,
      ed25519_public: key.publicKeyOpenssh,
    },
    // Debian 13's sshd-keygen.service (ssh-keygen -A on first boot) runs after cloud-init
    // and makes the RSA and ECDSA keys cloud-init just deleted; with HostKey named, sshd
    // serves the pinned key only (sshd_config includes sshd_config.d/ first on Debian 12 and 13).
    write_files: [{ path: "/etc/ssh/sshd_config.d/00-cdktf-nixos-installer.conf", permissions: "0644", content: "HostKey /etc/ssh/ssh_host_ed25519_key\n" }],
    // cloud-init writes keys before sshd starts; the restart covers images where sshd
    // came up first, so it never serves a key the chain did not pin.
    runcmd: [["sh", "-c", "systemctl try-restart ssh.service || systemctl try-restart sshd.service || true"]],
  };
  return `#cloud-config\n${Fn.yamlencode(cloudConfig)}`;
}

function firewallRules(options: HcloudFirewallOptions, unlockPort: number): FirewallRule[] {
  const rules: FirewallRule[] = [
    { direction: "in", protocol: "tcp", port: "22", sourceIps: options.sshSourceIps, description: "SSH: base system, installer, installed system" },
    {
      direction: "in",
      protocol: "tcp",
      port: String(unlockPort),
      sourceIps: options.unlockSourceIps ?? options.sshSourceIps,
      description: "SSH in the initrd: disk unlock",
    },
  ];
  if (options.allowIcmp ?? true) {
    rules.push({ direction: "in", protocol: "icmp", sourceIps: ["0.0.0.0/0", "::/0"], description: "ICMP and ICMPv6" });
  }
  return rules;
}

function ensureProviders(stack: TerraformStack): void {
  if (providersReady.has(stack)) return;
  const types = new Set(
    stack.node.children.filter((c): c is TerraformProvider => c instanceof TerraformProvider).map((p) => p.terraformResourceType),
  );
  // No token: the hcloud provider reads HCLOUD_TOKEN from the environment at plan/apply.
  if (!types.has(HcloudProvider.tfResourceType)) new HcloudProvider(stack, "hcloud", {});
  if (!types.has(TlsProvider.tfResourceType)) new TlsProvider(stack, "tls");
  providersReady.add(stack);
}

interface Resolved {
  ipv4: boolean;
  ipv6: boolean;
  deleteProtection: boolean;
  rebuildProtection: boolean;
}

/** The first server of a stack to upload a public key; later ones are refused at synth. */
function claimKey(stack: TerraformStack, key: string | undefined, server: HcloudNixosServer): HcloudNixosServer | undefined {
  if (typeof key !== "string" || isToken(key)) return undefined;
  let owners = claimedKeys.get(stack);
  if (!owners) claimedKeys.set(stack, (owners = new Map()));
  const normalized = key.trim();
  if (!owners.has(normalized)) owners.set(normalized, server);
  return owners.get(normalized);
}

/**
 * Terraform preconditions for CIDR lists given as tokens (known only at apply); `suffix`
 * turns plain addresses into CIDRs. Literal lists are checked at synth instead.
 */
function preconditionsFor(lists: [string, string[] | undefined][], suffix = ""): { precondition: Precondition[] } | undefined {
  const precondition: Precondition[] = lists
    .filter((entry): entry is [string, string[]] => entry[1] !== undefined && Token.isUnresolved(entry[1]))
    .map(([prop, list]) => ({
      condition: Fn.alltrue(forExpression(listExpression(list), Fn.can(Fn.cidrhost(`${Token.asString(FOR_EXPRESSION_VALUE)}${suffix}`, 0))) as never),
      errorMessage: `\`${prop}\` must list ${suffix ? "IP addresses" : "CIDRs (address/prefix)"}, got: \`${Fn.jsonencode(listExpression(list))}\``,
    }));
  return precondition.length > 0 ? { precondition } : undefined;
}

/** Strings only this construct writes into the configuration (the rest NixosInstall checks). */
function hcloudTextsOf(props: HcloudNixosServerProps): [string, unknown][] {
  const list = (prop: string, values: string[] | undefined) => (isToken(values) ? [] : (values ?? []).map((v, i) => [`${prop}[${i}]`, v] as [string, unknown]));
  return [
    ["serverType", props.serverType],
    ["serverTypeUsableUntil", props.serverTypeUsableUntil],
    ["location", props.location],
    ["image", props.image],
    ["sshPublicKey", props.sshPublicKey],
    ...list("sshKeyIds", props.sshKeyIds),
    ...Object.entries(props.labels ?? {}).flatMap(([k, v]) => [["labels", k], [`labels.${k}`, v]] as [string, unknown][]),
    ...list("firewall.sshSourceIps", props.firewall?.sshSourceIps),
    ...list("firewall.unlockSourceIps", props.firewall?.unlockSourceIps),
    ["privateNetwork.ipRange", props.privateNetwork?.ipRange],
    ["privateNetwork.ip", props.privateNetwork?.ip],
    ...list("privateNetwork.aliasIps", props.privateNetwork?.aliasIps),
    ["reverseDns", props.reverseDns],
  ];
}

/** `YYYY-MM-DD`, a real calendar date. */
function isIsoDate(value: unknown): value is string {
  if (typeof value !== "string" || !/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}

function validateProps(errors: PropErrors, props: HcloudNixosServerProps, r: Resolved, keyOwner: HcloudNixosServer | undefined): void {
  const known = (v: unknown) => !isToken(v);

  if (known(props.serverType)) errors.check(/^[a-z0-9-]+$/.test(props.serverType), "serverType", "be a Hetzner server type (a-z, 0-9, '-', e.g. cx23, cpx22, cax11)", props.serverType);
  if (known(props.location)) errors.check(/^[a-z]{3}[0-9]*$/.test(props.location), "location", "be a Hetzner location (e.g. fsn1, nbg1, hel1, ash, hil, sin; not a datacenter)", props.location);
  if (props.image !== undefined && known(props.image)) errors.check(props.image.trim() !== "", "image", "name a Hetzner image (e.g. debian-13) or give its numeric id", props.image);

  if (props.serverTypeUsableUntil !== undefined && known(props.serverTypeUsableUntil)) {
    errors.check(isIsoDate(props.serverTypeUsableUntil), "serverTypeUsableUntil", "be a date written YYYY-MM-DD (e.g. 2026-06-30)", props.serverTypeUsableUntil);
  }

  errors.check(
    r.rebuildProtection === r.deleteProtection,
    "rebuildProtection",
    `equal \`deleteProtection\` (${r.deleteProtection}): Hetzner sets both together`,
    r.rebuildProtection,
  );

  errors.check(
    r.ipv4 || r.ipv6 || props.privateNetwork !== undefined,
    "ipv4",
    "be true when `ipv6` is false and no `privateNetwork` is given (the install chain needs an address to reach)",
    r.ipv4,
  );
  if (props.reverseDns !== undefined && known(props.reverseDns)) {
    errors.check(isFqdn(props.reverseDns), "reverseDns", "be a fully qualified domain name (e.g. web-1.example.org)", props.reverseDns);
    errors.check(r.ipv4 || r.ipv6, "reverseDns", "be left out when the server has no public address", props.reverseDns);
  }

  if (props.sshPublicKey === undefined && (props.sshKeyIds ?? []).length === 0) {
    errors.fail("sshPublicKey", "be given (or `sshKeyIds`) so root can log in to the base system", props.sshPublicKey);
  }
  if (props.sshPublicKey !== undefined && known(props.sshPublicKey)) {
    errors.check(isPublicKey(props.sshPublicKey), "sshPublicKey", "be an OpenSSH public key line (e.g. `ssh-ed25519 AAAA… comment`)", props.sshPublicKey);
  }

  for (const [key, value] of Object.entries(props.labels ?? {})) {
    if (known(key)) errors.check(isLabelKey(key), `labels`, "have keys of at most 63 of a-z A-Z 0-9 . _ - (optionally prefix/), starting and ending alphanumeric", key);
    if (known(value)) errors.check(isLabelValue(value), `labels.${key}`, "be empty or at most 63 of a-z A-Z 0-9 . _ -, starting and ending alphanumeric", value);
  }

  if (props.placementGroupId !== undefined && known(props.placementGroupId)) {
    errors.check(Number.isInteger(props.placementGroupId) && props.placementGroupId > 0, "placementGroupId", "be the positive integer id of an hcloud_placement_group", props.placementGroupId);
  }

  if (props.firewall) {
    const fw = props.firewall;
    checkCidrList(errors, "firewall.sshSourceIps", fw.sshSourceIps);
    if (fw.unlockSourceIps !== undefined) checkCidrList(errors, "firewall.unlockSourceIps", fw.unlockSourceIps);
  }

  if (props.privateNetwork) validatePrivateNetwork(errors, props.privateNetwork);

  // Hetzner refuses the same public key twice in a project, but only at apply, after
  // other resources were made.
  if (keyOwner !== undefined) {
    errors.fail(
      "sshPublicKey",
      `be unique in the project (already uploaded by ${keyOwner.node.path}; create one SshKey and pass its id in \`sshKeyIds\`)`,
      props.sshPublicKey,
    );
  }

  for (const [prop, value] of hcloudTextsOf(props)) {
    if (typeof value === "string" && !errors.hasFailed(prop) && !isTerraformSafeText(value)) errors.fail(prop, TERRAFORM_TEXT_RULE, value);
  }
}

function checkCidrList(errors: PropErrors, prop: string, list: string[]): void {
  if (isToken(list)) return;
  errors.check(list.length > 0, prop, "list at least one CIDR (e.g. 203.0.113.0/24, 2001:db8::/32, 0.0.0.0/0)", list);
  list.forEach((value, i) => {
    if (isToken(value)) return;
    const cidr = parseCidr(value);
    if (!cidr) return errors.fail(`${prop}[${i}]`, "be an IPv4 or IPv6 CIDR (address/prefix, e.g. 203.0.113.7/32)", value);
    errors.check(isNetworkAddress(cidr), `${prop}[${i}]`, `have no host bits set (did you mean ${networkOf(cidr)}?)`, value);
  });
}

function validatePrivateNetwork(errors: PropErrors, network: HcloudPrivateNetwork): void {
  let range: Cidr | undefined;
  if (!isToken(network.ipRange)) {
    range = parseCidr(network.ipRange);
    if (!range || range.version !== 4) {
      errors.fail("privateNetwork.ipRange", "be an IPv4 CIDR (e.g. 10.0.1.0/24)", network.ipRange);
      range = undefined;
    } else if (!PRIVATE_IPV4_RANGES.some((p) => cidrContains(p, range as Cidr))) {
      errors.fail("privateNetwork.ipRange", "lie inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16", network.ipRange);
      range = undefined;
    } else if (!isNetworkAddress(range)) {
      errors.fail("privateNetwork.ipRange", `have no host bits set (did you mean ${networkOf(range)}?)`, network.ipRange);
      range = undefined;
    }
  }
  // A list token is checked at apply (preconditionsFor).
  const aliasIps = isToken(network.aliasIps) ? [] : (network.aliasIps ?? []);
  const ips = [["privateNetwork.ip", network.ip] as const, ...aliasIps.map((ip, i) => [`privateNetwork.aliasIps[${i}]`, ip] as const)];
  for (const [prop, ip] of ips) {
    if (isToken(ip)) continue;
    const address = parseIpv4(ip);
    if (address === undefined) {
      errors.fail(prop, "be an IPv4 address (e.g. 10.0.1.10)", ip);
      continue;
    }
    if (!range) continue;
    const host: Cidr = { version: 4, address: BigInt(address), prefix: 32 };
    if (!cidrContains(range, host)) {
      errors.fail(prop, `lie inside \`privateNetwork.ipRange\` ${network.ipRange}`, ip);
      continue;
    }
    const offset = BigInt(address) - range.address;
    const last = (1n << BigInt(32 - range.prefix)) - 1n;
    errors.check(offset > 1n && offset < last, prop, `not be the network, gateway (first) or broadcast address of ${network.ipRange}`, ip);
  }
}
