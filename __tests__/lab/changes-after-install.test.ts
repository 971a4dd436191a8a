// Changes after the install are never silent: a prop that only a reinstall applies
// (disks, pool, wipe, system) changed on an installed host shows in the plan as a
// replacement of the chain, and the probe refuses it with what changed, leaving the
// host as it was; set back, the next apply passes and changes nothing. Real terraform
// against the lab host. Needs root, sshd and terraform.
import * as fs from "fs";
import * as path from "path";
import { labHostRole, ROOT, startLab, terraform } from "../../lab/lab";

jest.setTimeout(300_000);

const work = path.join(ROOT, ".lab", "test-changes-after-install");

/** Every file under dir with its content: what the chain's records hold. */
function snapshotDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p, "utf8");
    }
  };
  walk(dir);
  return out;
}

describe("a reinstall-only prop changed after the install", () => {
  let lab: Awaited<ReturnType<typeof startLab>>;
  let hostDir: string;

  beforeAll(async () => {
    lab = await startLab({ work, passphrase: "correct horse battery staple", address: "127.0.32.2" });
    hostDir = path.join(lab.hostsDir, "web-1");
  });
  afterAll(async () => {
    await lab?.close();
  });

  test("the install records the settings it used (install.json: public facts only)", async () => {
    const apply = await lab.apply();
    expect(apply.code).toBe(0);
    expect(labHostRole(lab.host.dir)).toBe("installed");
    expect(JSON.parse(fs.readFileSync(path.join(hostDir, "install.json"), "utf8"))).toEqual({
      version: 1,
      disks: "",
      pool: "rpool",
      wipe: "base-system",
      system: lab.runtimeInfo().system,
      configuration: "",
      installedDisks: lab.runtimeInfo().disks.map((d) => d.path).join(" "),
      installedDiskNames: lab.runtimeInfo().disks.map((d) => `/dev/${d.kernelName}`).join(" "),
    });
  });

  test("pool and wipe changed: the plan replaces the chain, the probe refuses and names both, the host and its records stay", async () => {
    const before = snapshotDir(hostDir);
    lab.synth({ pool: "tank", wipe: "everything" });
    const plan = await terraform(lab.stackDir, ["plan", "-input=false", "-no-color"], lab.tfEnv);
    expect(plan.code).toBe(0);
    expect(plan.output).toMatch(/# terraform_data\.host_probe_\w+ must be replaced/);
    expect(plan.output).toMatch(/~ pool\s+= "rpool" -> "tank"/);
    expect(plan.output).toMatch(/~ wipe\s+= "base-system" -> "everything"/);

    const apply = await lab.apply();
    expect(apply.code).not.toBe(0);
    expect(apply.output).toContain("web-1 is installed (it answers as installed with its pinned key) and settings that only a reinstall applies changed since");
    expect(apply.output).toContain('pool: installed with "rpool", the stack now says "tank"');
    expect(apply.output).toContain('wipe: installed with "base-system", the stack now says "everything"');
    expect(apply.output).not.toMatch(/disks: installed with/);
    expect(apply.output).toContain("nothing was changed on the host");
    // No later phase ran: no session beyond the probe's key scans reached the installed system.
    expect(apply.output).not.toMatch(/\[web-1 (kexec|install|unlock|verify)\]/);
    expect(labHostRole(lab.host.dir)).toBe("installed");
    // The destroy step archived the records, the probe took them back: the same files, the same content.
    const after = snapshotDir(hostDir);
    const chainRecords = (s: Record<string, string>) => Object.fromEntries(Object.entries(s).filter(([k]) => !k.startsWith("archive/")));
    expect(chainRecords(after)).toEqual(chainRecords(before));
  });

  test("set back, the next apply passes and finds the host installed", async () => {
    lab.synth({});
    const apply = await lab.apply();
    expect(apply.code).toBe(0);
    expect(apply.output).toContain("NixOS is already installed");
    expect(labHostRole(lab.host.dir)).toBe("installed");
  });

  test("the same disk named explicitly (by id, or by kernel name) is no change: the apply passes", async () => {
    const [disk] = lab.runtimeInfo().disks;
    for (const name of [disk.path, `/dev/${disk.kernelName}`]) {
      lab.synth({ disks: [name] });
      const apply = await lab.apply();
      expect(apply.output).toContain(`disks now names the disks web-1 was installed on another way (${name}): no change`);
      expect(apply.code).toBe(0);
    }
    // another disk is a change
    lab.synth({ disks: ["/dev/disk/by-id/another-disk"] });
    const other = await lab.apply();
    expect(other.code).not.toBe(0);
    expect(other.output).toContain('disks: installed with "", the stack now says "/dev/disk/by-id/another-disk"');
  });

  test("a host installed before install.json existed: the change passes, and the probe says it was not checked", async () => {
    fs.rmSync(path.join(hostDir, "install.json"));
    lab.synth({ wipe: "everything" });
    const apply = await lab.apply();
    expect(apply.output).toContain("no record of the settings web-1 was installed with (installed before this release): a change of disks, pool, wipe or system is not checked");
    expect(apply.code).toBe(0);
  });
});
