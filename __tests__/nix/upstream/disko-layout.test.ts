/**
 * Issue 11, test 14: one source of truth for the disk layout. nix/lib/disko-layout.nix
 * goes through disko's own types (every default disko fills in: partition numbers,
 * labels, sgdisk ranges, dataset names) and its own create script, for every
 * runtime-info fixture; do-install then runs for each fixture in the loopback lab (its
 * disk and ZFS tools are recorders, lab/README.md) and every partition, file system,
 * pool, dataset, property and snapshot it made must be what disko would make, and
 * nothing more. The VM test (__tests__/vm/do-install.test.ts) does the same against a
 * real disk read back with sgdisk and zfs get.
 */
import * as fs from "fs";
import * as path from "path";
import { LabHost, labDown, labUp, records, sendStandInBundle, ssh, upload, waitForRole } from "../../target/lab-helpers";
import { describeWithUpstream, evalNix, FIXTURES, ROOT, UPSTREAM } from "./upstream";

interface DiskoPartition { index: number; label: string; type: string; start: string; end: string; format: string | null; extraArgs: string[] | null; mountpoint: string | null; pool: string | null }
interface DiskoView {
  disks: Record<string, { device: string; partitions: DiskoPartition[] }>;
  pools: Record<string, { mode: string; options: Record<string, string>; rootFsOptions: Record<string, string>; datasets: { name: string; options: Record<string, string>; mountpoint: string | null; postCreateHook: string }[] }>;
}

const PASSPHRASE = "lab-layout-passphrase";
const profilesDir = path.join(ROOT, "lab", "target", "profiles");
// The lab profiles that stand for a runtime-info fixture (profile.json says which). The
// stacked-storage profiles have none: they exist to be refused under wipe "base-system"
// (__tests__/faults/safety.test.ts), and their layouts are proven in the VM lab.
const profiles = fs
  .readdirSync(profilesDir)
  .sort()
  .map((name) => {
    const p = JSON.parse(fs.readFileSync(path.join(profilesDir, name, "profile.json"), "utf8")) as { fixture?: string; uname: string };
    return { name, fixture: p.fixture ?? "", system: p.uname === "aarch64" ? "aarch64-linux" : "x86_64-linux" };
  })
  .filter((p) => p.fixture !== "");

function diskoOf(runtimeInfo: string): { view: DiskoView; create: string } {
  const file = path.join(__dirname, "eval-host.nix");
  return {
    view: evalNix<DiskoView>(file, { upstream: UPSTREAM, runtimeInfo }, "disko"),
    create: evalNix<string>(file, { upstream: UPSTREAM, runtimeInfo }, "diskoCreate"),
  };
}

/** The commands of disko's create script, continuation lines joined. */
function commands(script: string): string[] {
  return script.replace(/\\\n\s*/g, " ").split("\n").map((l) => l.trim().replace(/\s+/g, " "));
}
const props = (args: string[], flag: string) =>
  Object.fromEntries(args.flatMap((a, i) => (args[i - 1] === flag ? [a.split("=", 2) as [string, string]] : [])));
// an sgdisk range to the end of the disk: "-0" (disko) and "0" (do-install) mean the same
const end = (e: string) => (e === "-0" ? "0" : e);

describeWithUpstream("do-install makes exactly the layout disko declares (issue 11 test 14)", () => {
  test.each(profiles.map((p) => p.fixture))("disko's types give %s the partition labels, ranges and mounts nix/lib promises", (fixture) => {
    const { view } = diskoOf(path.join(FIXTURES, fixture));
    const ri = JSON.parse(fs.readFileSync(path.join(FIXTURES, fixture), "utf8")) as { disks: { path: string }[] };
    expect(Object.keys(view.disks).sort()).toEqual(ri.disks.map((_, i) => `disk${i}`).sort());
    ri.disks.forEach((d, i) => {
      const disk = view.disks[`disk${i}`];
      expect(disk.device).toBe(d.path);
      expect(disk.partitions.map(({ index, label, type, start, end: e }) => ({ index, label, type, start, end: e }))).toEqual([
        { index: 1, label: `disk-disk${i}-bios`, type: "EF02", start: "0", end: "+1M" },
        { index: 2, label: `disk-disk${i}-esp`, type: "EF00", start: "0", end: "+1G" },
        { index: 3, label: `disk-disk${i}-zfs`, type: "BF00", start: "0", end: "-0" },
      ]);
      expect(disk.partitions[1]).toMatchObject({ format: "vfat", extraArgs: ["-F", "32"], mountpoint: i === 0 ? "/boot" : `/boot-${i}` });
      expect(disk.partitions[2].pool).toBe("rpool");
    });
  });

  describe.each(profiles)("the loopback lab's $name ($fixture)", ({ name, fixture, system }) => {
    let h: LabHost | undefined;
    let disko: { view: DiskoView; create: string };
    let calls: { tool: string; argv: string[] }[];

    beforeAll(async () => {
      const i = profiles.findIndex((p) => p.name === name);
      h = labUp(`layout-${i}`, `127.0.0.${61 + i}`, 23061 + i, name);
      upload(h, h.baseHostKey, "run-installer");
      sendStandInBundle(h, h.baseHostKey);
      const manifest = JSON.stringify({ version: 1, system, nixosVersion: "26.05", files: {} });
      expect(ssh(h, h.baseHostKey, "cat > /tmp/bundle/manifest.json", manifest).status).toBe(0);
      // the fixture is this profile's runtime-info (write-runtime-info's own tests prove that)
      expect(ssh(h, h.baseHostKey, "cat > /tmp/ri.json", fs.readFileSync(path.join(FIXTURES, fixture))).status).toBe(0);
      expect(ssh(h, h.baseHostKey, "cat > /tmp/ak", fs.readFileSync(`${h.clientKey}.pub`)).status).toBe(0);
      const kexec = ssh(h, h.baseHostKey, "/tmp/run-installer --bundle /tmp/bundle --runtime-info /tmp/ri.json --authorized-keys /tmp/ak");
      const key = /^installer-host-key: (ssh-ed25519 \S+)$/m.exec(kexec.stdout)?.[1];
      if (!key) throw new Error(`run-installer failed: ${kexec.stderr}`);
      await waitForRole(h, "installer");
      upload(h, key, "do-install");
      expect(ssh(h, key, "mkdir -p /tmp/tpl && cat > /tmp/tpl/flake.nix", "{ outputs = _: { }; }\n").status).toBe(0);
      // the layout is under test here, not the wipe policy
      const r = ssh(h, key, "/tmp/do-install --runtime-info /etc/cdktf-nixos-installer/runtime-info.json --template /tmp/tpl --authorized-keys /etc/ssh/authorized_keys.d/root --wipe everything", `${PASSPHRASE}\n`);
      if (r.status !== 0) throw new Error(`do-install failed: ${r.stderr}`);
      calls = records(h).filter((x) => x.role === "installer").map((x) => ({ tool: x.tool, argv: x.argv ?? [] }));
      // disko evaluates the runtime-info do-install read and left for the installed system
      disko = diskoOf(path.join(h.dir, "disk", "mnt", "persist", "etc", "nixos", "runtime-info.json"));
    }, 120_000);
    afterAll(() => labDown(h), 30_000);

    test("every partition is one disko would create: number, range, type code, label", () => {
      for (const disk of Object.values(disko.view.disks)) {
        const made = calls.filter((c) => c.tool === "sgdisk" && c.argv[c.argv.length - 1] === disk.device && c.argv.some((a) => a.startsWith("--new=")));
        expect(made).toHaveLength(1);
        const parts: Record<string, Record<string, string>> = {};
        for (const a of made[0].argv.slice(0, -1)) {
          const m = /^--(new|typecode|change-name)=(\d+):(.*)$/.exec(a)!;
          (parts[m[2]] ??= {})[m[1]] = m[3];
        }
        const did = Object.entries(parts).map(([n, p]) => ({ index: Number(n), range: p.new.split(":").map((x, j) => (j === 1 ? end(x) : x)).join(":"), type: p.typecode, label: p["change-name"] }));
        expect(did).toEqual(disk.partitions.map((p) => ({ index: p.index, range: `${p.start}:${end(p.end)}`, type: p.type, label: p.label })));
        // and disko's own create script names the same partitions
        for (const p of disk.partitions) expect(commands(disko.create)).toContainEqual(expect.stringContaining(`--new=${p.index}:${p.start}:${p.end} --partition-guid="${p.index}:R" --change-name="${p.index}:${p.label}" --typecode=${p.index}:${p.type}`));
      }
    });

    test("every ESP is made as disko makes it and mounted where the installed system mounts it", () => {
      for (const disk of Object.values(disko.view.disks)) {
        const esp = disk.partitions.find((p) => p.format === "vfat")!;
        const dev = `${disk.device}-part${esp.index}`;
        expect(calls.filter((c) => c.tool === "mkfs.vfat" && c.argv[c.argv.length - 1] === dev).map((c) => c.argv.slice(0, -1))).toEqual([esp.extraArgs]);
        expect(commands(disko.create)).toContain(`mkfs.vfat ${esp.extraArgs!.join(" ")} "/dev/disk/by-partlabel/${esp.label}"`);
        const mounted = calls.filter((c) => c.tool === "mount" && c.argv.includes(dev));
        expect(mounted.map((c) => c.argv[c.argv.length - 1])).toEqual([`/mnt${esp.mountpoint}`]);
      }
    });

    test("the pool has disko's vdevs and exactly its pool and root file system properties", () => {
      const [poolName, pool] = Object.entries(disko.view.pools)[0];
      const create = calls.filter((c) => c.tool === "zpool" && c.argv[0] === "create");
      expect(create).toHaveLength(1);
      const argv = create[0].argv;
      expect({ o: props(argv, "-o"), O: props(argv, "-O") }).toEqual({ o: pool.options, O: pool.rootFsOptions });
      const vdevs = argv.slice(argv.indexOf(poolName) + 1);
      const members = Object.values(disko.view.disks).map((d) => `${d.device}-part${d.partitions.find((p) => p.pool === poolName)!.index}`);
      expect(vdevs).toEqual(pool.mode === "mirror" ? ["mirror", ...members] : members);
      // disko's own `zpool create` line sets the same properties
      const line = commands(disko.create).find((l) => l.startsWith(`zpool create -f "${poolName}"`))!;
      const words = line.split(" ");
      expect({ o: props(words, "-o"), O: props(words, "-O") }).toEqual({ o: pool.options, O: pool.rootFsOptions });
    });

    test("the datasets, their properties and the blank snapshot are disko's, and no more", () => {
      const [, pool] = Object.entries(disko.view.pools)[0];
      const made = Object.fromEntries(calls.filter((c) => c.tool === "zfs" && c.argv[0] === "create").map((c) => [c.argv[c.argv.length - 1], props(c.argv, "-o")]));
      // what disko's create script passes to zfs create -up for each dataset
      const declared = Object.fromEntries(pool.datasets.map((d) => {
        const line = commands(disko.create).find((l) => l.startsWith(`zfs create -up "${d.name}"`))!;
        return [d.name, props(line.split(" "), "-o")];
      }));
      expect(made).toEqual(declared);
      const snapshots = calls.filter((c) => c.tool === "zfs" && c.argv[0] === "snapshot").map((c) => `zfs snapshot ${c.argv[1]}`);
      expect(snapshots).toEqual(pool.datasets.map((d) => d.postCreateHook.trim()).filter(Boolean));
      // each dataset with a mountpoint is mounted where the installed system mounts it
      for (const d of pool.datasets.filter((x) => x.mountpoint)) {
        expect(calls).toContainEqual({ tool: "mount", argv: ["-t", "zfs", d.name, d.mountpoint === "/" ? "/mnt" : `/mnt${d.mountpoint}`] });
      }
    });
  });
});
