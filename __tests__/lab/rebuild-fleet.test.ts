// Ten hosts rebuilt by one `terraform apply` (Terraform's default parallelism of 10):
// the lab's fleet of simulated hosts, installed by the chain, then one configuration
// change for all of them: the fleet's own flake (HostConfiguration.fromFlake, one asset
// for the stack), each host's runtime-info placed at hosts/NAME/. Each host switches to
// generation 2 and confirms over its own new pinned connection. Needs root, sshd and terraform; runs alone (ten lab hosts).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { randomBytes } from "crypto";
import { filesContaining } from "../../lab/canary";
import { Fleet, hostLines, startFleet } from "../../lab/faults/fault-lab";
import { ROOT } from "../../lab/lab";
import { USER_FLAKE_NIX } from "../support/user-flake";

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
    // the fleet's own flake (lib.mkHosts over hosts/), in a git work tree as an infra repo
    // is: each host's root key in hosts/NAME/, its runtime-info placed beside it
    const config = path.join(work, "configuration");
    fs.rmSync(config, { recursive: true, force: true });
    fs.mkdirSync(config, { recursive: true });
    fs.writeFileSync(path.join(config, "flake.nix"), `${USER_FLAKE_NIX}# the fleet's second generation\n`);
    for (const n of NAMES) {
      fs.mkdirSync(path.join(config, "hosts", n), { recursive: true });
      fs.copyFileSync(`${fleet.hosts[n].clientKey}.pub`, path.join(config, "hosts", n, "authorized_keys"));
    }
    const git = (...args: string[]) => execFileSync("git", ["-C", config, "-c", "user.email=t@example.org", "-c", "user.name=t", ...args]);
    git("init", "-q");
    git("add", ".");
    git("commit", "-q", "-m", "fleet");
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
