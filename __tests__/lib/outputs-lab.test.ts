// The outputs and the re-run recipe of the README, against the lab's simulated host
// (real terraform, sshd and deploy scripts): `terraform output` after an install, and
// `terraform apply -replace=<phase address>` running that one phase again.
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { ROOT, startLab, terraform } from "../../lab/lab";

jest.setTimeout(240_000);

describe("after an install in the lab", () => {
  const work = path.join(ROOT, ".lab", "test-outputs");
  let lab: Awaited<ReturnType<typeof startLab>>;
  let outputs: Record<string, { value: any }>;

  beforeAll(async () => {
    lab = await startLab({ work, passphrase: `outputs-${randomBytes(8).toString("hex")}`, address: "127.0.0.12" });
    const apply = await lab.apply();
    if (apply.code !== 0) throw new Error(`terraform apply failed:\n${apply.output}`);
    const out = await terraform(lab.stackDir, ["output", "-json"], lab.tfEnv);
    // (terraform's warnings on stderr come first in the combined output)
    outputs = JSON.parse(out.output.slice(out.output.indexOf("{")));
    process.stderr.write(`outputs-lab: apply ${apply.seconds.toFixed(1)} s\n`);
  });
  afterAll(async () => {
    await lab?.close();
  });

  test("terraform output shows the address, the installed system's host key and each phase's address", () => {
    expect(outputs.address.value).toBe("127.0.0.12");
    const recorded = fs.readFileSync(path.join(lab.hostsDir, "web-1", "ssh_host_ed25519_key.pub"), "utf8").trim();
    expect(recorded).toMatch(/^ssh-ed25519 AAAA\S+$/);
    expect(outputs.installed_host_key.value).toBe(recorded);
    expect(Object.keys(outputs.phase_addresses.value).sort()).toEqual(["install", "kexec", "probe", "unlock", "verify"]);
  });

  test("terraform apply -replace=<the verify phase's address> runs verify again and nothing else", async () => {
    const verify = outputs.phase_addresses.value.verify as string;
    const again = await terraform(lab.stackDir, ["apply", "-auto-approve", "-input=false", "-no-color", `-replace=${verify}`], lab.tfEnv);
    expect(again.code).toBe(0);
    const provisioned = [...again.output.matchAll(/^(\S+): Provisioning with 'local-exec'/gm)].map((m) => m[1]);
    expect(provisioned).toEqual([verify]);
    expect(again.output).toMatch(/\[web-1 verify\] verified: /);
    expect(again.output).toMatch(/Apply complete! Resources: 1 added, 0 changed, 1 destroyed\./);
  });
});
