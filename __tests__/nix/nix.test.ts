/**
 * Nix level of the test pyramid that runs without nixpkgs: every .nix file
 * parses, and the pure functions in nix/lib turn the runtime-info fixtures into
 * the networking, disk layout and hostId the installed host uses.
 * Needs only `nix-instantiate` (Debian: `apt-get install nix-bin`).
 */
import { execFileSync, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";

const repo = path.resolve(__dirname, "..", "..");
const fixtures = path.join(repo, "__tests__", "fixtures", "runtime-info");
const skipDirs = new Set(["node_modules", ".git", "cdktf.out", "dist", ".lab", ".terraform"]);

function requireNixInstantiate(): void {
  const probe = spawnSync("nix-instantiate", ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      "nix-instantiate is not installed: the Nix tests need it (Debian/Ubuntu: `apt-get install nix-bin`, no daemon or nixpkgs needed)",
    );
  }
}

function nixFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return skipDirs.has(entry.name) ? [] : nixFiles(full);
    return entry.name.endsWith(".nix") ? [full] : [];
  });
}

/** Runs nix-instantiate; returns stdout, or the failure with its stderr. */
function nix(args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync("nix-instantiate", args, { cwd: repo, encoding: "utf8", timeout: 60000 });
  return { ok: r.status === 0, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function evalJson<T>(args: string[]): T {
  const out = execFileSync("nix-instantiate", ["--eval", "--strict", "--json", ...args], {
    cwd: repo,
    encoding: "utf8",
    timeout: 60000,
  });
  return JSON.parse(out) as T;
}

interface HostFacts {
  hostName: string;
  system: string;
  hostId: string;
  networks: Record<string, { matchConfig: { MACAddress: string }; address: string[]; routes: Record<string, unknown>[] }>;
  partlabels: string[];
  bootMirrors: { path: string; espLabel: string; device: string }[];
  pool: { name: string; mode: string; vdevs: string[]; datasets: string[]; blankSnapshot: string };
  disko: { zpool: Record<string, { rootFsOptions: Record<string, string> }> };
}

function facts(file: string): HostFacts {
  return evalJson<HostFacts>(["nix/tests/eval-host.nix", "--argstr", "runtimeInfo", file]);
}

describe("nix", () => {
  beforeAll(requireNixInstantiate);

  test("every .nix file in the repo parses", () => {
    const files = nixFiles(repo);
    expect(files).toEqual(expect.arrayContaining([path.join(repo, "flake.nix"), path.join(repo, "nix", "templates", "host", "flake.nix")]));
    const broken = files
      .map((file) => ({ file: path.relative(repo, file), r: nix(["--parse", file]) }))
      .filter(({ r }) => !r.ok)
      .map(({ file, r }) => `${file}: ${r.stderr.trim()}`);
    expect(broken).toEqual([]);
  });

  test("the pure-function cases in nix/tests all hold", () => {
    const result = evalJson<{ total: number; passed: string[]; failed: unknown[] }>(["nix/tests"]);
    expect(result.failed).toEqual([]);
    expect(result.passed).toHaveLength(result.total);
    expect(result.total).toBeGreaterThanOrEqual(15);
  });

  test("hostId is the first 8 hex characters of sha256(hostName) for every fixture", () => {
    for (const name of fs.readdirSync(fixtures).filter((f) => f.endsWith(".json"))) {
      const file = path.join(fixtures, name);
      const info = JSON.parse(fs.readFileSync(file, "utf8")) as { hostName: string };
      const expected = createHash("sha256").update(info.hostName).digest("hex").slice(0, 8);
      expect({ name, hostId: facts(file).hostId }).toEqual({ name, hostId: expected });
    }
  });

  test("a Hetzner Cloud host gets IPv4 /32 via on-link 172.31.1.1 and IPv6 /64 via fe80::1, matched by MAC", () => {
    const f = facts(path.join(fixtures, "hcloud-x86-fsn1.json"));
    expect(f.networks).toEqual({
      // and, as on every Hetzner Cloud host, DHCP (no default route) on any other card
      "90-hcloud-private": expect.objectContaining({ matchConfig: { Type: "ether" }, networkConfig: { DHCP: "ipv4", IPv6AcceptRA: false } }),
      "10-eth0": expect.objectContaining({
        matchConfig: { MACAddress: "96:00:01:47:75:f9", Type: "ether" },
        address: ["23.88.115.30/32", "2a01:4f8:c012:de47::1/64"],
        routes: [{ Gateway: "172.31.1.1", GatewayOnLink: true }, { Gateway: "fe80::1" }],
      }),
    });
  });

  test("a two-disk dedicated server gets a mirrored, encrypted pool with disko's partlabels", () => {
    const f = facts(path.join(fixtures, "dedicated-two-nvme-uefi.json"));
    expect(f.partlabels).toEqual([
      "disk-disk0-bios",
      "disk-disk0-esp",
      "disk-disk0-zfs",
      "disk-disk1-bios",
      "disk-disk1-esp",
      "disk-disk1-zfs",
    ]);
    expect(f.pool).toEqual({
      name: "rpool",
      mode: "mirror",
      vdevs: ["/dev/disk/by-partlabel/disk-disk0-zfs", "/dev/disk/by-partlabel/disk-disk1-zfs"],
      datasets: ["local", "local/nix", "local/root", "safe", "safe/home", "safe/persist"],
      blankSnapshot: "rpool/local/root@blank",
    });
    expect(f.disko.zpool.rpool.rootFsOptions).toMatchObject({
      encryption: "aes-256-gcm",
      keyformat: "passphrase",
      keylocation: "prompt",
    });
    // each disk gets its own ESP and GRUB, so either one boots the host
    expect(f.bootMirrors).toEqual([
      { path: "/boot", espLabel: "disk-disk0-esp", device: "/dev/disk/by-id/nvme-SAMSUNG_MZVL21T0HCLR-00B00_S676NF0R512345" },
      { path: "/boot-1", espLabel: "disk-disk1-esp", device: "/dev/disk/by-id/nvme-SAMSUNG_MZVL21T0HCLR-00B00_S676NF0R512346" },
    ]);
  });

  test("an arm64 host boots GRUB through EFI only", () => {
    expect(facts(path.join(fixtures, "hcloud-cax11-ipv6-only.json")).bootMirrors).toEqual([{ path: "/boot", espLabel: "disk-disk0-esp", device: "nodev" }]);
  });

  test.each([
    ["version-2.json", "`version` must be 1"],
    ["invalid-host-name.json", '`hostName` must be a valid hostname (a-z, 0-9, \'-\', at most 63), got: "Web_1"'],
    ["no-disks-upper-mac.json", "`disks` must be a non-empty list, got: []"],
    ["no-disks-upper-mac.json", '`interfaces[0].mac` must be a lower-case MAC address'],
    ["no-disks-upper-mac.json", '`system` must be one of x86_64-linux, aarch64-linux, got: "riscv64-linux"'],
  ])("bad runtime-info %s is refused with: %s", (name, message) => {
    const r = nix([
      "--eval",
      "--strict",
      "--json",
      "nix/tests/eval-host.nix",
      "--argstr",
      "runtimeInfo",
      path.join(repo, "nix", "tests", "bad", name),
    ]);
    expect(r.ok).toBe(false);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`runtime-info: ${message}`);
  });
});
