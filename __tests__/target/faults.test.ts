import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { LabHost, labDown, labUp, ssh, upload } from "./lab-helpers";

function fakeBundle(h: LabHost): void {
  const r = ssh(h, h.baseHostKey, [
    "mkdir -p /tmp/bundle && cd /tmp/bundle",
    "head -c 4096 /dev/zero > kernel && head -c 8192 /dev/zero > initrd && echo 'loglevel=4' > cmdline",
    `printf '{"version":1,"system":"x86_64-linux","files":{}}' > manifest.json`,
    "echo '{}' > /tmp/ri.json",
  ].join(" && "));
  expect(r.status).toBe(0);
  expect(ssh(h, h.baseHostKey, "cat > /tmp/ak", fs.readFileSync(`${h.clientKey}.pub`)).status).toBe(0);
}

describe("lab faults seen by the target-side scripts", () => {
  const hosts: LabHost[] = [];
  afterAll(() => hosts.forEach(labDown), 30000);

  it.each([
    ["low-ram", /^error: not enough memory for kexec: MemAvailable is 400 MiB, the installer needs 514 MiB \(kernel\+initrd 1 MiB x 2\.5 \+ 512 MiB\)/m],
    ["wrong-arch", /^error: wrong architecture: this host is aarch64-linux \(uname -m: aarch64\) but the kexec bundle is for x86_64-linux/m],
  ])("run-installer refuses before kexec under %s", (fault, message) => {
    const h = labUp(`fault-${fault}`, `127.0.0.${51 + hosts.length}`, 23051 + hosts.length, "hcloud-x86", [fault as string]);
    hosts.push(h);
    upload(h, h.baseHostKey, "run-installer");
    fakeBundle(h);
    const r = ssh(h, h.baseHostKey, "/tmp/run-installer --bundle /tmp/bundle --runtime-info /tmp/ri.json --authorized-keys /tmp/ak");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message as RegExp);
    const recs = fs.readFileSync(path.join(h.dir, "records", "records.jsonl"), "utf8");
    expect(recs).not.toMatch(/"tool":"kexec"/);
  });

  it("kexec-noop: kexec -e does nothing and the base system answers again", async () => {
    const h = labUp("fault-noop", "127.0.0.55", 23055, "hcloud-x86", ["kexec-noop"]);
    hosts.push(h);
    upload(h, h.baseHostKey, "run-installer");
    fakeBundle(h);
    const r = ssh(h, h.baseHostKey, "/tmp/run-installer --bundle /tmp/bundle --runtime-info /tmp/ri.json --authorized-keys /tmp/ak");
    expect(r.status).toBe(0);
    await new Promise((res) => setTimeout(res, 2500));
    const again = ssh(h, h.baseHostKey, "test -e /etc/cdktf-nixos-installer/installer && echo installer || echo base");
    expect(again.stdout).toBe("base\n");
  });

  it("lab-host refuses a port that something else already listens on, and names the listener", async () => {
    // A second lab run in the same network namespace must fail at once and say why, not after 20 s.
    const server = net.createServer();
    await new Promise<void>((res) => server.listen(23057, "0.0.0.0", res));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-taken-"));
    try {
      const labHost = path.resolve(__dirname, "..", "..", "lab", "target", "lab-host");
      const r = spawnSync(labHost, ["up", "--dir", dir, "--name", "taken", "--address", "127.0.0.57", "--port", "23057", "--unlock-port", "23257"], { encoding: "utf8", timeout: 30000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/port 23057 is already in use/);
      expect(r.stderr).toMatch(/0\.0\.0\.0:23057/);
      expect(fs.existsSync(path.join(dir, "supervisor.pid"))).toBe(false);
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
