// Ten hosts rebuilt by one `terraform apply` (Terraform's default parallelism of 10):
// the lab's fleet of simulated hosts, installed by the chain, then one configuration
// change for all of them. Each host switches to generation 2 and confirms over its own
// new pinned connection. Needs root, sshd and terraform; runs alone (ten lab hosts).
import * as fs from "fs";
import * as path from "path";
import { randomBytes } from "crypto";
import { filesContaining } from "../../lab/canary";
import { Fleet, hostLines, startFleet } from "../../lab/faults/fault-lab";
import { ROOT } from "../../lab/lab";

jest.setTimeout(1_200_000);

const TIMEOUTS = { probe: 120, kexec: 180, install: 240, unlock: 180, verify: 120 };
const NAMES = Array.from({ length: 10 }, (_, i) => `node-${i + 1}`);

describe("ten hosts in one apply", () => {
  let fleet: Fleet;
  const passphrase = `canary-${randomBytes(16).toString("hex")}`;
  const work = path.join(ROOT, ".lab", "test-rebuild-fleet");

  beforeAll(async () => {
    fleet = await startFleet({ work, passphrase, hosts: NAMES.map((name, i) => ({ name, address: `127.0.33.${10 + i}` })), timeouts: TIMEOUTS });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  test("are installed, then all rebuilt to generation 2 by one apply of a changed configuration", async () => {
    const install = await fleet.apply({ timeoutMs: 600_000 });
    const unverified = NAMES.filter((n) => !hostLines(install.output, n).some((l) => l.startsWith(`[${n} verify] verified:`)));
    expect(unverified).toEqual([]);
    const config = path.join(work, "configuration");
    fs.mkdirSync(config, { recursive: true });
    fs.writeFileSync(path.join(config, "flake.nix"), `${fs.readFileSync(path.join(ROOT, "nix", "templates", "host", "flake.nix"), "utf8")}# the fleet's second generation\n`);
    fleet.resynth((m) => ({ ...m, rebuildConfiguration: path.relative(ROOT, config), rollbackTimeout: 60 }));
    const rebuild = await fleet.apply({ timeoutMs: 600_000 });
    const generationOf = (n: string) => fs.readlinkSync(path.join(fleet.hosts[n].dir, "disk", "mnt", "nix", "var", "nix", "profiles", "system"));
    const confirmed = NAMES.filter((n) => hostLines(rebuild.output, n).some((l) => l.startsWith(`[${n} rebuild] confirmed: generation 2 runs`)));
    expect({ confirmed, exit: rebuild.code }).toEqual({ confirmed: NAMES, exit: 0 });
    expect(NAMES.map(generationOf)).toEqual(NAMES.map(() => "system-2-link"));
    expect(rebuild.output).toMatch(/Apply complete! Resources: 10 added, 0 changed, 0 destroyed\./);
    expect(filesContaining(passphrase, [work])).toEqual([]);
  });
});
