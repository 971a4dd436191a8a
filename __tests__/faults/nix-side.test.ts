// Fault scenarios of issue 10 on the Nix side (items 13, 15, 16), run on this machine:
// unlock with another pool's password request pending (a real systemd-ask-password, in a
// mount namespace of its own), and the installer's network units for a Hetzner private
// card without address at probe time and for every fixture. The VM test
// (__tests__/vm/unlock.test.ts) runs unlock against a real zfs load-key too; here the
// pool's key is checked by a stand-in that compares the answer with the passphrase.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { isDeepStrictEqual } from "util";
import { writeReliabilityDoc } from "../../lab/faults/report";
import { scenario } from "../../lab/faults/scenario";
import { asNixosWritesIt, commandDir, networksOf, parseUnit } from "../nix/networkd-units";

const repo = path.resolve(__dirname, "..", "..");
const fixtures = path.join(repo, "__tests__", "fixtures", "runtime-info");
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "faults-nix-"));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  writeReliabilityDoc();
});

function writeUnits(runtimeInfo: string, out: string, bin: string) {
  return spawnSync(path.join(bin, "bash"), [path.join(repo, "nix", "installer", "write-networkd-units"), "--nix-lib", path.join(repo, "nix", "lib"), "--runtime-info", runtimeInfo, "--out", out], { encoding: "utf8", env: { PATH: bin } });
}

scenario(
  {
    id: "S13",
    title: "unlock while the initrd also waits for another pool's key (tank), a wrong and then the right passphrase",
    expected: "tank's request is never answered; the wrong passphrase is refused with the initrd asking again; the right one loads rpool's key; only the initrd's commands are used",
    timeoutMs: 120_000,
    file: __filename,
  },
  async () => {
    const started = Date.now();
    const bin = commandDir("initrd", tmp);
    // the key check of zfs load-key and its keystatus, as files (a stand-in: no ZFS here)
    fs.writeFileSync(path.join(bin, "zfs"), '#!/bin/bash\n[ "$1 $2 $3 $4 $5" = "get -H -o value keystatus" ] || exit 1\ncat "/run/systemd/keystatus-$6" 2>/dev/null || echo unavailable\n', { mode: 0o755 });
    const script = `
      set -u
      mount -t tmpfs none /run/systemd
      check() { read -r got; [ "$got" = "$2" ] && echo available > "/run/systemd/keystatus-$1"; }
      systemd-ask-password --no-tty --timeout=0 "Enter key for tank:" > /run/systemd/tank-answer &
      ( for try in 1 2 3; do systemd-ask-password --no-tty --timeout=0 "Enter key for rpool:" | check rpool "$PASS" && break; done ) &
      sleep 1
      env -i PATH="$BIN" bash "$UNLOCK" --pool rpool --timeout 10 <<< "not-the-passphrase"; echo "wrong-rc=$?"
      env -i PATH="$BIN" bash "$UNLOCK" --pool rpool --timeout 10 <<< "$PASS"; echo "right-rc=$?"
      echo "keystatus=$(cat /run/systemd/keystatus-rpool 2>/dev/null)"
      echo "tank-pending=$(grep -l 'Enter key for tank:' /run/systemd/ask-password/ask.* | wc -l)"
      echo "tank-answer=$(wc -c < /run/systemd/tank-answer)"
      kill %1 2>/dev/null; true`;
    const r = spawnSync("unshare", ["-m", "--propagation", "private", "bash", "-c", script], {
      encoding: "utf8",
      env: { ...process.env, BIN: bin, UNLOCK: path.join(repo, "nix", "installer", "unlock"), PASS: "rpool-passphrase-S13" },
      timeout: 100_000,
    });
    const out = r.stdout;
    const must = (ok: boolean, what: string) => {
      if (!ok) throw new Error(`${what}; stdout: ${out}; stderr: ${r.stderr}`);
    };
    must(/^wrong-rc=1$/m.test(out) && /error: wrong passphrase for pool rpool \(the initrd asks again\)/.test(r.stderr), "the wrong passphrase should be refused as such");
    must(/^right-rc=0$/m.test(out) && /^keystatus=available$/m.test(out), "the right passphrase should load rpool's key");
    must(/^tank-pending=1$/m.test(out) && /^tank-answer=0$/m.test(out), "tank's request should stay pending and unanswered");
    return { happened: "wrong passphrase: exit 1, \"wrong passphrase for pool rpool (the initrd asks again)\"; right one: exit 0, rpool's key loaded; tank's request still pending, nothing sent to it", seconds: (Date.now() - started) / 1000 };
  },
);

scenario(
  {
    id: "S15",
    title: "a Hetzner private network card with no address at probe time, and an alias IP in hoster.privateIps",
    expected: "the installer and the installed host run DHCPv4 on that card (no default route, no DNS) and add the alias IP as /32",
    timeoutMs: 60_000,
    file: __filename,
  },
  async () => {
    const started = Date.now();
    const ri = JSON.parse(fs.readFileSync(path.join(fixtures, "hcloud-x86-fsn1.json"), "utf8"));
    ri.hoster.privateIps = ["10.0.0.2", "10.0.0.5"]; // only eth0 was probed
    const file = path.join(tmp, "unprobed.json");
    fs.writeFileSync(file, JSON.stringify(ri));
    const out = fs.mkdtempSync(path.join(tmp, "units-"));
    const r = writeUnits(file, out, commandDir("installer", tmp));
    if (r.status !== 0) throw new Error(`write-networkd-units failed: ${r.stderr}`);
    const unit = fs.readFileSync(path.join(out, "90-hcloud-private.network"), "utf8");
    for (const line of ["[Match]\nType=ether\n", "Address=10.0.0.5/32\n", "DHCP=ipv4\n", "UseGateway=false\n", "UseDNS=false\n", "UseMTU=true\n"]) {
      if (!unit.includes(line)) throw new Error(`90-hcloud-private.network lacks ${JSON.stringify(line)}:\n${unit}`);
    }
    const installed = networksOf(file)["90-hcloud-private"];
    if (!isDeepStrictEqual(asNixosWritesIt(installed), parseUnit(unit))) throw new Error("the installed host's network differs from the installer's unit");
    return { happened: `installer wrote ${fs.readdirSync(out).join(", ")}; 90-hcloud-private: DHCP=ipv4, UseGateway=false, UseDNS=false, UseMTU=true, Address=10.0.0.5/32; the installed host gets the same network`, seconds: (Date.now() - started) / 1000 };
  },
);

scenario(
  {
    id: "S16",
    title: "one writer: the installer's network units against the installed system's networks, every fixture",
    expected: "for every runtime-info fixture the installer writes exactly the installed system's networks as NixOS renders them",
    timeoutMs: 120_000,
    file: __filename,
  },
  async () => {
    const started = Date.now();
    const bin = commandDir("installer", tmp);
    const names = fs.readdirSync(fixtures).filter((f) => f.endsWith(".json")).sort();
    let units = 0;
    for (const name of names) {
      const out = fs.mkdtempSync(path.join(tmp, "units-"));
      const r = writeUnits(path.join(fixtures, name), out, bin);
      if (r.status !== 0) throw new Error(`${name}: write-networkd-units failed: ${r.stderr}`);
      const written = Object.fromEntries(fs.readdirSync(out).map((f) => [f, parseUnit(fs.readFileSync(path.join(out, f), "utf8"))]));
      const installed = Object.fromEntries(Object.entries(networksOf(path.join(fixtures, name))).map(([n, v]) => [`${n}.network`, asNixosWritesIt(v)]));
      if (!isDeepStrictEqual(written, installed)) throw new Error(`${name}: the installer's units differ from the installed system's networks`);
      units += Object.keys(written).length;
    }
    // and the old shell writer is gone
    if (fs.existsSync(path.join(repo, "nix", "modules", "installer-image", "network-from-runtime-info.sh"))) throw new Error("the second writer still exists");
    execFileSync("nix-instantiate", ["--parse", path.join(repo, "nix", "modules", "installer-image", "default.nix")], { stdio: "ignore" });
    return { happened: `${names.length} fixtures, ${units} unit files: each the installed system's network, key by key; network-from-runtime-info.sh is gone`, seconds: (Date.now() - started) / 1000 };
  },
);
