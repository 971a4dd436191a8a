// Fault scenario 9: ten hosts installed by one `terraform apply` (Terraform's default
// parallelism of 10), measured against the same apply with one host. Runs alone (no
// other scenario beside it) so that the two wall times compare.
import { randomBytes } from "crypto";
import * as path from "path";
import { filesContaining } from "../../lab/canary";
import { firstError, Fleet, hostLines, leftoverTempDirs, startFleet } from "../../lab/faults/fault-lab";
import { writeReliabilityDoc } from "../../lab/faults/report";
import { scenario } from "../../lab/faults/scenario";
import { ROOT } from "../../lab/lab";

const TIMEOUTS = { probe: 120, kexec: 180, install: 240, unlock: 180, verify: 120 };
const fleets: Fleet[] = [];

afterAll(async () => {
  await Promise.all(fleets.map((f) => f.close()));
  writeReliabilityDoc();
}, 120_000);

async function installAll(work: string, count: number, firstAddress: number): Promise<{ seconds: number; failed: string[]; lines: number }> {
  const passphrase = `canary-${randomBytes(16).toString("hex")}`;
  const f = await startFleet({
    work: path.join(ROOT, ".lab", "faults", work),
    passphrase,
    hosts: Array.from({ length: count }, (_, i) => ({ name: `node-${i + 1}`, address: `127.0.9.${firstAddress + i}` })),
    timeouts: TIMEOUTS,
  });
  fleets.push(f);
  try {
    const apply = await f.apply({ timeoutMs: 420_000 });
    const failed = Object.keys(f.hosts).filter((n) => firstError(apply.output, n) !== "" || !hostLines(apply.output, n).some((l) => l.startsWith(`[${n} verify] verified:`)));
    if (apply.timedOut) throw new Error(`the apply of ${count} host(s) hit its 420 s deadline`);
    const left = leftoverTempDirs(f.tmpDir);
    if (left.length) throw new Error(`deploy temp dirs left: ${left.join(", ")}`);
    if (filesContaining(passphrase, [f.work]).length) throw new Error("the passphrase leaked into a file");
    return { seconds: apply.seconds, failed, lines: apply.output.split("\n").length };
  } finally {
    await f.close();
  }
}

scenario(
  {
    id: "9",
    title: "ten hosts installed in one terraform apply (parallelism 10)",
    expected: "all ten verified; wall time recorded against the same apply with one host",
    timeoutMs: 900_000,
    file: __filename,
  },
  async () => {
    const one = await installAll("fleet-1", 1, 100);
    if (one.failed.length) throw new Error(`the one-host apply failed for ${one.failed.join(", ")}`);
    const ten = await installAll("fleet-10", 10, 101);
    if (ten.failed.length) throw new Error(`${ten.failed.length} of 10 hosts did not verify: ${ten.failed.join(", ")}`);
    return {
      happened: `10 of 10 verified in ${ten.seconds.toFixed(1)} s (one terraform apply); one host alone: ${one.seconds.toFixed(1)} s; ratio ${(ten.seconds / one.seconds).toFixed(1)}x for 10x the hosts`,
      seconds: ten.seconds,
    };
  },
);
