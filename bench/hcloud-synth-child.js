// One measurement of bench/hcloud-synth.ts, in a process of its own so its peak RSS is
// its own. Plain JavaScript, so the `compiled` runtime loads no ts-node at all.
//   node bench/hcloud-synth-child.js compiled|ts-node bare|construct COUNT OUTDIR SKIP_VALIDATION
"use strict";
const fs = require("fs");
const path = require("path");

const [runtime, kind, countText, outdir, skipValidationText] = process.argv.slice(2);
const count = Number(countText);
const root = path.resolve(__dirname, "..");
if (runtime === "ts-node") require("ts-node/register/transpile-only");
const base = runtime === "compiled" ? path.join(root, "dist") : root;

const { App, TerraformStack } = require("cdktf");
const { HcloudProvider } = require(path.join(base, ".gen/providers/hcloud/provider"));
const { Server } = require(path.join(base, ".gen/providers/hcloud/server"));
const { SshKey } = require(path.join(base, ".gen/providers/hcloud/ssh-key"));
const { HcloudNixosServer, KexecBundle, PassphraseSource } = require(path.join(base, "lib"));
const loaded = process.hrtime.bigint();
const cpuAtLoad = process.cpuUsage();

const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJlbmNobWFya2tleWJlbmNobWFya2tleWJlbmNobWFyaw bench@example";
const app = new App({ outdir, skipValidation: skipValidationText === "true" });
const stack = new TerraformStack(app, "bench");
new HcloudProvider(stack, "hcloud", {});
const key = new SshKey(stack, "admin", { name: "admin", publicKey: ADMIN_KEY });
const bundle = KexecBundle.fromUrl({ url: "https://example.org/kexec.tar.gz", sha256: "0".repeat(64), system: "x86_64-linux" });
for (let i = 0; i < count; i++) {
  const name = `host-${String(i).padStart(4, "0")}`;
  if (kind === "bare") {
    new Server(stack, name, { name, serverType: "cx23", location: "fsn1", image: "debian-12", sshKeys: [key.id], publicNet: [{ ipv4Enabled: true, ipv6Enabled: true }] });
  } else {
    new HcloudNixosServer(stack, name, {
      hostName: name,
      serverType: "cx23",
      location: "fsn1",
      sshKeyIds: [key.id],
      authorizedKeys: [ADMIN_KEY],
      passphrase: PassphraseSource.fromEnv("DISK_PASSPHRASE"),
      bundle,
    });
  }
}
app.synth();
const done = process.hrtime.bigint();
const cpu = process.cpuUsage(cpuAtLoad);
process.stdout.write(
  `${JSON.stringify({
    kind,
    count,
    synthMs: Number(done - loaded) / 1e6,
    // CPU time of the same span: on a shared machine wall time grows with the load, this much less.
    synthCpuMs: (cpu.user + cpu.system) / 1000,
    processMs: process.uptime() * 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    outputKiB: fs.statSync(path.join(outdir, "stacks", "bench", "cdk.tf.json")).size / 1024,
  })}\n`,
);
