// npm run demo [-- --hcl] [-- --url] [-- --keep]
// Installs what the lab needs when it is missing (Debian/Ubuntu, as root; lab/setup.ts),
// synthesizes examples/existing-host, runs the real terraform init + apply against a
// simulated host on 127.0.0.2 (lab/target/), prints the phases as they run and the
// verified host's facts, then `terraform destroy` and stops the simulated host.
import { randomBytes } from "crypto";
import * as path from "path";
import { ROOT, startLab, terraform } from "./lab";
import { ensureLabTools } from "./setup";
import { runVmDemo } from "./vm-demo";

async function main(argv: string[]): Promise<number> {
  const known = ["--hcl", "--url", "--keep", "--vm", "--help"];
  const unknown = argv.filter((a) => !known.includes(a));
  if (unknown.length > 0 || argv.includes("--help")) {
    console.log("usage: npm run demo [-- --hcl] [-- --url] [-- --keep] [-- --vm]\n  --vm    against a real Debian kernel in qemu (lab/vm/): real kexec, real disk layout and encrypted ZFS, up to nixos-install\n  --hcl   synthesize HCL instead of JSON (cdktf synth --hcl)\n  --url   the host downloads the bundle by URL + sha256 instead of an upload\n  --keep  leave the installed lab host, the state and hosts/ in place (stop it with lab/target/lab-host down --dir .lab/demo/target)");
    return unknown.length > 0 ? 2 : 0;
  }
  if (argv.includes("--vm")) return runVmDemo();
  // On Debian or Ubuntu as root the demo installs what the lab needs; elsewhere it says what.
  ensureLabTools((line) => console.log(line));
  const passphrase = `demo-${randomBytes(12).toString("hex")}`;
  const work = path.join(ROOT, ".lab", "demo");
  console.log(`lab: simulated host web-1 on 127.0.0.2 (${argv.includes("--hcl") ? "HCL" : "JSON"} stack, bundle by ${argv.includes("--url") ? "URL" : "upload"})`);
  const lab = await startLab({ work, passphrase, hcl: argv.includes("--hcl"), url: argv.includes("--url"), echo: true });
  let ok = false;
  try {
    console.log(`lab: terraform -chdir=${path.relative(ROOT, lab.stackDir)} apply`);
    const apply = await lab.apply();
    if (apply.code !== 0) {
      console.error(`lab: terraform apply failed (exit ${apply.code}); the simulated host's records are in ${path.relative(ROOT, lab.host.dir)}/records`);
      return 1;
    }
    const info = lab.runtimeInfo();
    console.log("\nlab: verified host");
    console.log(`  name        ${info.hostName}`);
    console.log(`  system      ${info.system}, ${info.bootMode} boot, ${info.memoryMiB} MiB`);
    for (const d of info.disks) console.log(`  disk        ${d.path} (${(d.sizeBytes / 2 ** 30).toFixed(1)} GiB)`);
    for (const i of info.interfaces) console.log(`  interface   ${i.name} ${i.mac} ${i.addresses.join(" ")}${i.gateways.length ? ` via ${i.gateways.join(", ")}` : ""}`);
    console.log(`  host record ${path.relative(ROOT, path.join(lab.hostsDir, info.hostName))}/`);
    // The stack's outputs (examples/existing-host): what an operator reads after an apply.
    const shown = await terraform(lab.stackDir, ["output", "-json"], lab.tfEnv);
    const outputs = JSON.parse(shown.output.slice(shown.output.indexOf("{")));
    console.log(`  host key    ${outputs.installed_host_key.value}`);
    console.log(`  re-run a phase: terraform -chdir=${path.relative(ROOT, lab.stackDir)} apply -replace=${outputs.phase_addresses.value.verify}`);
    ok = true;
    if (argv.includes("--keep")) return 0;
    console.log(`\nlab: terraform destroy`);
    const destroy = await lab.destroy(false);
    if (destroy.code !== 0) {
      console.error(`lab: terraform destroy failed (exit ${destroy.code}):\n${destroy.output}`);
      return 1;
    }
    console.log(destroy.output.split("\n").filter((l) => /local-exec\): Executing|Destroy complete/.test(l)).join("\n"));
    return 0;
  } finally {
    if (!(ok && argv.includes("--keep"))) await lab.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`lab: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
