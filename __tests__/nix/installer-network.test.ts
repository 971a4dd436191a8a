/**
 * One writer turns runtime-info into network configuration (issue 10, items 15 and 16):
 * the installer's units, written at boot by nix/installer/write-networkd-units, are the
 * installed system's `systemd.network.networks` (nix/lib/networkd-networks.nix) as NixOS
 * renders them (networkd.nix networkToUnit, systemd-lib.nix attrsToSection). The
 * scripts run with PATH holding only what their environment has
 * (nix/installer/commands.nix).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { asNixosWritesIt, commandDir, networksOf, parseUnit } from "./networkd-units";

const repo = path.resolve(__dirname, "..", "..");
const fixtures = path.join(repo, "__tests__", "fixtures", "runtime-info");
const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(fixtures, `${name}.json`), "utf8"));
let tmp: string;

function writeUnits(runtimeInfo: string | undefined, out: string) {
  const args = ["--nix-lib", path.join(repo, "nix", "lib"), "--out", out, "--runtime-info", runtimeInfo ?? path.join(tmp, "absent.json")];
  return spawnSync(path.join(installerBin, "bash"), [path.join(repo, "nix", "installer", "write-networkd-units"), ...args], { encoding: "utf8", env: { PATH: installerBin } });
}

let installerBin: string;

// a Hetzner Cloud server whose private network card was probed with its address, and
// that network has two alias IPs
const withAliases = () => {
  const ri = fixture("hcloud-x86-private-networks");
  ri.hoster.privateIps = ["10.2.0.2", "10.2.0.7", "10.2.0.8", "192.168.0.2"];
  return ri;
};
// one whose private card had no address yet at probe time: only eth0 was probed
const unprobedCard = () => {
  const ri = fixture("hcloud-x86-fsn1");
  ri.hoster.privateIps = ["10.0.0.2", "10.0.0.5"];
  return ri;
};
const cases: [string, () => unknown][] = [
  ...fs.readdirSync(fixtures).filter((f) => f.endsWith(".json")).map((f) => [f, () => fixture(f.replace(/\.json$/, ""))] as [string, () => unknown]),
  ["hcloud private network with alias IPs", withAliases],
  ["hcloud private card without address at probe time", unprobedCard],
];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "installer-network-"));
  installerBin = commandDir("installer", tmp);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("the installer's network units are the installed system's networks", () => {
  test.each(cases)("%s", (name, make) => {
    const file = path.join(tmp, `${name.replace(/\W+/g, "-")}.json`);
    fs.writeFileSync(file, JSON.stringify(make()));
    const out = fs.mkdtempSync(path.join(tmp, "units-"));
    const r = writeUnits(file, out);
    expect(r.stderr).not.toMatch(/^error:/m);
    expect(r.status).toBe(0);
    const networks = networksOf(file);
    const written = Object.fromEntries(fs.readdirSync(out).map((f) => [f, parseUnit(fs.readFileSync(path.join(out, f), "utf8"))]));
    expect(written).toEqual(Object.fromEntries(Object.entries(networks).map(([n, v]) => [`${n}.network`, asNixosWritesIt(v)])));
  });

  test("a private network's alias IPs go onto the card that holds the server's IP there", () => {
    const n = networksOf(path.join(tmp, "hcloud-private-network-with-alias-IPs.json"));
    expect(n["10-enp7s0"].address).toEqual(["10.2.0.2/32", "10.2.0.7/32", "10.2.0.8/32"]);
    expect(n["10-enp8s0"].address).toEqual(["192.168.0.2/32"]);
    expect(n["90-hcloud-private"].address).toEqual([]);
  });

  test("a private card without address at probe time gets DHCP and the alias IPs, never a default route or DNS", () => {
    const n = networksOf(path.join(tmp, "hcloud-private-card-without-address-at-probe-time.json"));
    expect(n["90-hcloud-private"]).toEqual({
      matchConfig: { Type: "ether" },
      address: ["10.0.0.5/32"],
      routes: [],
      networkConfig: { IPv6AcceptRA: false, DHCP: "ipv4" },
      dhcpV4Config: { UseDNS: false, UseGateway: false, UseMTU: true },
    });
    // the public card is matched first (networkd takes the first file by name)
    expect(Object.keys(n).sort()).toEqual(["10-eth0", "90-hcloud-private"]);
  });

  test("a host outside Hetzner Cloud gets no catch-all network", () => {
    expect(Object.keys(networksOf(path.join(fixtures, "dedicated-two-nvme-uefi.json")))).toEqual(["10-enp41s0"]);
  });

  test("without runtime-info nothing is written; an invalid one is refused by name and nothing is written", () => {
    const none = fs.mkdtempSync(path.join(tmp, "none-"));
    const r = writeUnits(undefined, none);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^write-networkd-units: no \S+absent\.json: leaving networking to DHCP$/m);
    expect(fs.readdirSync(none)).toEqual([]);
    const bad = path.join(tmp, "bad.json");
    fs.writeFileSync(bad, JSON.stringify({ ...fixture("hcloud-x86-fsn1"), version: 2 }));
    const b = writeUnits(bad, none);
    expect(b.status).toBe(1);
    expect(b.stderr).toMatch(/runtime-info: `version` must be 1/);
    expect(b.stderr).toMatch(/^error: could not turn \S+bad\.json into networks \(see above\); the installer stays on DHCP/m);
    expect(fs.readdirSync(none)).toEqual([]);
  });
});

describe("carry-payload in the installer's stage 1", () => {
  test("copies what the cpio brought onto the root, key private, with only the initrd's commands", () => {
    const initrdBin = commandDir("initrd", tmp);
    const from = fs.mkdtempSync(path.join(tmp, "initrd-"));
    const to = fs.mkdtempSync(path.join(tmp, "sysroot-"));
    fs.mkdirSync(path.join(from, "etc", "ssh", "authorized_keys.d"), { recursive: true });
    fs.writeFileSync(path.join(from, "etc", "ssh", "ssh_host_ed25519_key"), "private\n", { mode: 0o644 });
    fs.writeFileSync(path.join(from, "etc", "ssh", "authorized_keys.d", "root"), "ssh-ed25519 AAAA x\n");
    const r = spawnSync(path.join(initrdBin, "bash"), [path.join(repo, "nix", "installer", "carry-payload"), "--from", from, "--to", to], { encoding: "utf8", env: { PATH: initrdBin } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(to, "etc", "ssh", "authorized_keys.d", "root"), "utf8")).toBe("ssh-ed25519 AAAA x\n");
    expect(fs.statSync(path.join(to, "etc", "ssh", "ssh_host_ed25519_key")).mode & 0o777).toBe(0o600);
    // what the cpio did not bring is not made up
    expect(fs.existsSync(path.join(to, "etc", "cdktf-nixos-installer"))).toBe(false);
  });
});
