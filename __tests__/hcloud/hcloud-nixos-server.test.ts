import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TerraformStack, Testing, Token } from "cdktf";
import { TlsProvider } from "@cdktf/provider-tls/lib/provider";
import { NetworkSubnet } from "../../.gen/providers/hcloud/network-subnet";
import { HcloudProvider } from "../../.gen/providers/hcloud/provider";
import { DEFAULT_HCLOUD_BASE_IMAGE, HcloudNixosServer } from "../../lib/hcloud-nixos-server";
import { KexecBundle } from "../../lib/kexec-bundle";
import { PassphraseSource } from "../../lib/passphrase-source";
import { SshIdentity } from "../../lib/ssh-identity";
import { checkHcloudConformance, itWithHcloudSchema } from "../support/hcloud-schema";
import { ADMIN_KEY, baseProps, OTHER_KEY, ref, resolve, serverTypeRead, synthServer, testApp } from "./helpers";

const ARM_BUNDLE = KexecBundle.fromUrl({ url: "https://example.org/kexec-aarch64.tar.gz", sha256: "b".repeat(64), system: "aarch64-linux" });

describe("HcloudNixosServer: the server", () => {
  it("names the server after `hostName` and hands the same name to the install chain", () => {
    const { one, host } = synthServer({ hostName: "db-7" });
    expect(one("hcloud_server").name).toBe("db-7");
    expect(host.installProps.hostName).toBe("db-7");
  });

  it("creates the server with the given `serverType` and `location`, never the deprecated datacenter", () => {
    const { one, doc } = synthServer({ serverType: "cpx32", location: "hel1" });
    expect(one("hcloud_server").location).toBe("hel1");
    expect(serverTypeRead(doc, one("hcloud_server")).name).toBe("cpx32");
    expect(one("hcloud_server")).not.toHaveProperty("datacenter");
  });

  it("boots the newest debian-13 for the bundle's architecture by default and the given `image` otherwise", () => {
    const { doc } = synthServer();
    expect(DEFAULT_HCLOUD_BASE_IMAGE).toBe("debian-13");
    expect(Object.values(doc.data.hcloud_image)).toEqual([{ name: DEFAULT_HCLOUD_BASE_IMAGE, with_architecture: "x86", most_recent: true }]);
    expect(Object.values(synthServer({ image: "debian-12" }).doc.data.hcloud_image)).toEqual([{ name: "debian-12", with_architecture: "x86", most_recent: true }]);
  });

  it("takes the system from the bundle, not from the server type's name (the API's architecture is checked at plan)", () => {
    const { host } = synthServer({ serverType: "cax21", bundle: ARM_BUNDLE });
    expect(host.system).toBe("aarch64-linux");
    expect(host.installProps.bundle).toBe(ARM_BUNDLE);
    // A type family the name gives no clue about is no synth error: the plan checks it.
    expect(synthServer({ serverType: "cx53" }).host.system).toBe("x86_64-linux");
  });

  it("uploads `sshPublicKey` as an hcloud_ssh_key, gives it to the server and authorizes it on every stage", () => {
    const { one, doc, host } = synthServer();
    expect(one("hcloud_ssh_key")).toMatchObject({ name: "web-1", public_key: ADMIN_KEY });
    expect(one("hcloud_server").ssh_keys).toEqual([ref(doc, "hcloud_ssh_key", "id")]);
    expect(host.installProps.authorizedKeys).toEqual([ADMIN_KEY]);
  });

  it("uses existing `sshKeyIds` without uploading a key, and the given `authorizedKeys`", () => {
    const { one, all, host } = synthServer({ sshPublicKey: undefined, sshKeyIds: ["12345", "admin"], authorizedKeys: [ADMIN_KEY, OTHER_KEY] });
    expect(all("hcloud_ssh_key")).toHaveLength(0);
    expect(one("hcloud_server").ssh_keys).toEqual(["12345", "admin"]);
    expect(host.installProps.authorizedKeys).toEqual([ADMIN_KEY, OTHER_KEY]);
  });

  it("puts `labels` on the server, its SSH key and its firewall", () => {
    const labels = { role: "web", "example.org/team": "infra" };
    const { one } = synthServer({ labels, firewall: { sshSourceIps: ["0.0.0.0/0"] } });
    expect(one("hcloud_server").labels).toEqual(labels);
    expect(one("hcloud_ssh_key").labels).toEqual(labels);
    expect(one("hcloud_firewall").labels).toEqual(labels);
  });

  it("turns public IPv4 and IPv6 on by default and connects over IPv4", () => {
    const { one, doc, host, stack } = synthServer();
    expect(one("hcloud_server").public_net).toEqual([{ ipv4_enabled: true, ipv6_enabled: true }]);
    expect(resolve(stack, host.installProps.host)).toBe(ref(doc, "hcloud_server", "ipv4_address"));
  });

  it("makes an IPv6-only server with `ipv4: false` and connects to its IPv6 address", () => {
    const { one, host, doc, stack } = synthServer({ ipv4: false });
    expect(one("hcloud_server").public_net).toEqual([{ ipv4_enabled: false, ipv6_enabled: true }]);
    expect(resolve(stack, host.installProps.host)).toBe(ref(doc, "hcloud_server", "ipv6_address"));
    expect(resolve(stack, host.installProps.hoster?.ipv6Network)).toBe(ref(doc, "hcloud_server", "ipv6_network"));
  });

  it("leaves the IPv6 /64 out of runtime-info with `ipv6: false`", () => {
    const { one, host } = synthServer({ ipv6: false });
    expect(one("hcloud_server").public_net).toEqual([{ ipv4_enabled: true, ipv6_enabled: false }]);
    expect(host.installProps.hoster?.ipv6Network).toBeUndefined();
  });

  it("attaches `privateNetwork` with its fixed IP, waits for the subnet and reports the private IPs", () => {
    const { one, doc, host } = synthServer(
      { ipv4: false, ipv6: false, privateNetwork: { networkId: 42, ipRange: "10.0.1.0/24", ip: "10.0.1.10", aliasIps: ["10.0.1.20"] } },
    );
    expect(one("hcloud_server").network).toEqual([{ network_id: 42, ip: "10.0.1.10", alias_ips: ["10.0.1.20"] }]);
    expect(host.installProps.host).toBe("10.0.1.10");
    expect(host.installProps.hoster?.privateIps).toEqual(["10.0.1.10", "10.0.1.20"]);
    expect(one("hcloud_server")).not.toHaveProperty("depends_on");
    expect(JSON.stringify(doc.locals)).toContain("--private-ip 10.0.1.10");
  });

  it("makes the server depend on `privateNetwork.subnet`", () => {
    const stack = new TerraformStack(testApp(), "dep");
    const subnet = new NetworkSubnet(stack, "subnet", { networkId: 42, type: "cloud", networkZone: "eu-central", ipRange: "10.0.1.0/24" });
    new HcloudNixosServer(stack, "web", baseProps({ privateNetwork: { networkId: 42, ipRange: "10.0.1.0/24", ip: "10.0.1.10", subnet } }));
    const withSubnet = JSON.parse(Testing.synth(stack));
    const server: any = Object.values(withSubnet.resource.hcloud_server)[0];
    expect(server.depends_on).toEqual([`hcloud_network_subnet.${Object.keys(withSubnet.resource.hcloud_network_subnet)[0]}`]);
  });

  it("puts the server into `placementGroupId`", () => {
    expect(synthServer({ placementGroupId: 77 }).one("hcloud_server").placement_group_id).toBe(77);
    expect(synthServer().one("hcloud_server")).not.toHaveProperty("placement_group_id");
  });

  it("switches Hetzner `backups` on only when asked", () => {
    expect(synthServer().one("hcloud_server").backups).toBe(false);
    expect(synthServer({ backups: true }).one("hcloud_server").backups).toBe(true);
  });

  it("sets delete and rebuild protection together", () => {
    expect(synthServer().one("hcloud_server")).toMatchObject({ delete_protection: false, rebuild_protection: false });
    expect(synthServer({ deleteProtection: true }).one("hcloud_server")).toMatchObject({ delete_protection: true, rebuild_protection: true });
    expect(synthServer({ deleteProtection: true, rebuildProtection: true }).one("hcloud_server")).toMatchObject({
      delete_protection: true,
      rebuild_protection: true,
    });
  });

  it("never recreates an installed server for a new image, host key or SSH key list", () => {
    expect(synthServer().one("hcloud_server").lifecycle).toMatchObject({ ignore_changes: ["user_data", "image", "ssh_keys"] });
  });
});

describe("HcloudNixosServer: no trust on first use", () => {
  it("makes a throwaway ed25519 host key and pins its public half as the chain's first-contact key", () => {
    const { one, doc, host } = synthServer();
    expect(one("tls_private_key")).toMatchObject({ algorithm: "ED25519" });
    expect(host.installProps.trustOnFirstUse).toBe(false);
    const resolved = JSON.stringify(doc);
    expect(resolved).toContain(`\${trimspace(${ref(doc, "tls_private_key", "public_key_openssh").slice(2, -1)})}`);
    expect(Token.isUnresolved(host.installProps.hostKey)).toBe(true);
  });

  it("installs that key on the base image through cloud-init and lets sshd offer no other", () => {
    const { one, doc } = synthServer();
    const userData: string = one("hcloud_server").user_data;
    const key = Object.keys(doc.resource.tls_private_key)[0];
    expect(userData.startsWith("#cloud-config\n${yamlencode({")).toBe(true);
    expect(userData).toContain(`"ed25519_private" = tls_private_key.${key}.private_key_openssh`);
    expect(userData).toContain(`"ed25519_public" = tls_private_key.${key}.public_key_openssh`);
    expect(userData).toContain('"ssh_deletekeys" = true');
    expect(userData).toContain('"ssh_genkeytypes" = []');
    expect(userData).toContain("systemctl try-restart ssh.service");
  });

  it("makes sshd serve the pinned key alone although Debian 13 makes RSA and ECDSA keys after cloud-init", () => {
    const userData: string = synthServer().one("hcloud_server").user_data;
    const file = /"path" = "(\/etc\/ssh\/sshd_config\.d\/[^"]+\.conf)"/.exec(userData)?.[1];
    const content = /"content" = "((?:[^"\\]|\\.)*)"/.exec(userData)?.[1];
    expect(file).toBe("/etc/ssh/sshd_config.d/00-cdktf-nixos-installer.conf");
    // The drop-in as sshd reads it (Debian's sshd_config includes sshd_config.d/*.conf):
    // `sshd -T` prints the host keys sshd would load.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ni-sshd-"));
    try {
      fs.mkdirSync(path.join(dir, "sshd_config.d"));
      fs.writeFileSync(path.join(dir, "sshd_config"), `Include ${dir}/sshd_config.d/*.conf\n`);
      const hostKeys = () =>
        execFileSync("/usr/sbin/sshd", ["-T", "-f", path.join(dir, "sshd_config")], { encoding: "utf8" })
          .split("\n")
          .filter((l) => l.startsWith("hostkey "));
      expect(hostKeys()).toHaveLength(3); // without it: rsa, ecdsa and ed25519, whatever exists
      fs.writeFileSync(path.join(dir, "sshd_config.d", path.basename(file as string)), JSON.parse(`"${content}"`));
      expect(hostKeys()).toEqual(["hostkey /etc/ssh/ssh_host_ed25519_key"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("HcloudNixosServer: firewall and reverse DNS", () => {
  it("opens SSH and the unlock port to `firewall.sshSourceIps` and attaches the firewall at creation", () => {
    const { one, doc } = synthServer({ firewall: { sshSourceIps: ["203.0.113.0/24", "2001:db8::/32"] } });
    const rules = one("hcloud_firewall").rule;
    expect(rules).toContainEqual(expect.objectContaining({ direction: "in", protocol: "tcp", port: "22", source_ips: ["203.0.113.0/24", "2001:db8::/32"] }));
    expect(rules).toContainEqual(expect.objectContaining({ direction: "in", protocol: "tcp", port: "2222", source_ips: ["203.0.113.0/24", "2001:db8::/32"] }));
    expect(rules).toContainEqual(expect.objectContaining({ protocol: "icmp", source_ips: ["0.0.0.0/0", "::/0"] }));
    expect(one("hcloud_firewall").name).toBe("web-1");
    expect(one("hcloud_server").firewall_ids).toEqual([ref(doc, "hcloud_firewall", "id")]);
  });

  it("uses `firewall.unlockSourceIps` and `unlockPort` for the unlock rule and can leave ICMP closed", () => {
    const { one, host } = synthServer({ unlockPort: 2022, firewall: { sshSourceIps: ["0.0.0.0/0"], unlockSourceIps: ["198.51.100.7/32"], allowIcmp: false } });
    const rules = one("hcloud_firewall").rule;
    expect(rules).toContainEqual(expect.objectContaining({ port: "2022", source_ips: ["198.51.100.7/32"] }));
    expect(rules.some((r: any) => r.protocol === "icmp")).toBe(false);
    expect(host.installProps.unlockPort).toBe(2022);
  });

  it("makes no firewall unless asked", () => {
    const { all, one } = synthServer();
    expect(all("hcloud_firewall")).toHaveLength(0);
    expect(one("hcloud_server")).not.toHaveProperty("firewall_ids");
  });

  it("sets `reverseDns` on the IPv4 address and the IPv6 address of the server", () => {
    const { all, doc } = synthServer({ reverseDns: "web-1.example.org" });
    const records = all("hcloud_rdns");
    expect(records).toHaveLength(2);
    expect(records.map((r: any) => r.ip_address).sort()).toEqual(
      [ref(doc, "hcloud_server", "ipv4_address"), ref(doc, "hcloud_server", "ipv6_address")].sort(),
    );
    for (const r of records) expect(r).toMatchObject({ dns_ptr: "web-1.example.org", server_id: ref(doc, "hcloud_server", "id") });
  });

  it("sets only the IPv6 PTR on an IPv6-only server", () => {
    const { all, doc } = synthServer({ ipv4: false, reverseDns: "web-1.example.org" });
    expect(all("hcloud_rdns").map((r: any) => r.ip_address)).toEqual([ref(doc, "hcloud_server", "ipv6_address")]);
  });
});

describe("HcloudNixosServer: the install chain", () => {
  it("feeds what Terraform knows into runtime-info's hoster object", () => {
    const { host, doc, stack } = synthServer({ serverType: "cpx21", location: "nbg1" });
    expect(resolve(stack, host.installProps.hoster)).toEqual({
      kind: "hcloud",
      serverId: ref(doc, "hcloud_server", "id"),
      location: "nbg1",
      serverType: "cpx21",
      ipv6Network: ref(doc, "hcloud_server", "ipv6_network"),
    });
  });

  it("passes the passphrase source, bundle, identity, disks, wipe, timeouts, hostsDir and resourceType through", () => {
    const passphrase = PassphraseSource.fromCommand("pass show hosts/web-1/disk");
    const identity = SshIdentity.keyFile("keys/deploy");
    const { host } = synthServer({
      passphrase,
      identity,
      disks: ["/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_1"],
      wipe: "everything",
      timeouts: { install: 1800 },
      hostsDir: "fleet/hosts",
      resourceType: "terraform_data",
    });
    expect(host.installProps).toMatchObject({
      passphrase,
      identity,
      disks: ["/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_1"],
      wipe: "everything",
      timeouts: { install: 1800 },
      hostsDir: "fleet/hosts",
      resourceType: "terraform_data",
      unlockPort: 2222,
    });
    expect(host.install.phases.probe).toBeDefined();
  });

  it("wires every phase to the server's address, so no phase runs before the server exists", () => {
    const { doc } = synthServer();
    const address = ref(doc, "hcloud_server", "ipv4_address");
    const phases = Object.values<any>(doc.resource.terraform_data);
    expect(phases).toHaveLength(5);
    // Each phase's local-exec takes the host's settings local, which holds the address.
    for (const phase of phases) {
      const local = /^\$\{local\.(.+)\}$/.exec(phase.provisioner[0]["local-exec"].environment)?.[1] as string;
      expect(doc.locals[local].NI_HOST).toBe(address);
    }
    expect(phases.find((p) => p.triggers_replace.phase === "probe").triggers_replace.host).toBe(address);
  });
});

describe("HcloudNixosServer: providers", () => {
  it("adds the hcloud (token from HCLOUD_TOKEN) and tls providers once per stack when the stack has none", () => {
    const stack = new TerraformStack(testApp(), "two");
    new HcloudNixosServer(stack, "a", baseProps({ hostName: "a" }));
    new HcloudNixosServer(stack, "b", baseProps({ hostName: "b", sshPublicKey: OTHER_KEY }));
    const doc = JSON.parse(Testing.synth(stack));
    expect(doc.provider).toEqual({ hcloud: [{}], tls: [{}] });
  });

  it("uses the providers the stack already declares", () => {
    const { doc } = synthServer({}, (stack) => {
      new HcloudProvider(stack, "my-hcloud", { pollInterval: "1s" });
      new TlsProvider(stack, "my-tls", {});
    });
    expect(doc.provider.hcloud).toEqual([{ poll_interval: "1s" }]);
    expect(doc.provider.tls).toEqual([{}]);
  });

  itWithHcloudSchema()("conforms to the hcloud 1.59.0 schema with every option switched on", () => {
    const { doc } = synthServer({
      labels: { a: "b" },
      privateNetwork: { networkId: 1, ipRange: "10.0.1.0/24", ip: "10.0.1.5" },
      placementGroupId: 3,
      backups: true,
      deleteProtection: true,
      firewall: { sshSourceIps: ["0.0.0.0/0"] },
      reverseDns: "web-1.example.org",
    });
    const result = checkHcloudConformance(doc);
    expect(result.violations).toEqual([]);
    expect(result.checked).toMatchObject({ hcloud_server: 1, hcloud_ssh_key: 1, hcloud_firewall: 1, hcloud_rdns: 2, "data.hcloud_server_type": 1, "data.hcloud_image": 1 });
  });
});
