// The deploy scripts' SSH helper (lib/scripts/common.sh) when its master connection
// dies under a running phase: the control socket stays behind. Evidence for ssh_open's
// check that its master still runs: the next command must get a new pinned master, not a stale socket.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { labHostDownAsync, labHostUpAsync } from "../../lab/faults/fault-lab";
import { writeReliabilityDoc } from "../../lab/faults/report";
import { scenario } from "../../lab/faults/scenario";
import { LabHost, ROOT } from "../../lab/lab";

const WORK = path.join(ROOT, ".lab", "faults", "ssh-helper");
let host: LabHost | undefined;

afterAll(async () => {
  if (host) await labHostDownAsync(host.dir);
  writeReliabilityDoc();
}, 60_000);

// Sources common.sh as a phase does, opens the base master, kills it with SIGKILL (so it
// cannot remove its socket), then runs two more commands through the helper.
const HARNESS = `
PHASE=probe
. "$COMMON"
pin base "$BASE_KEY"
ssh_run base true
pid=$(ssh -S "$WORK_DIR/ctl-base" -O check _ 2>&1 | sed -n 's/.*pid=\\([0-9]*\\).*/\\1/p')
[ -n "$pid" ] || { echo "no master pid" >&2; exit 3; }
kill -9 "$pid"
for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
[ -S "$WORK_DIR/ctl-base" ] && echo "stale-socket-left"
ssh_run base 'echo first-after-kill'
ssh_run base 'echo second-after-kill'
printf 'tmp=%s\\n' "$WORK_DIR"
`;

scenario(
  {
    id: "1.6",
    title: "the SSH master connection dies under a running phase (stale control socket)",
    expected: "the next command notices the dead master, opens one new pinned master and goes on; no 'Control socket connect' noise; the temp dir is removed",
    timeoutMs: 120_000,
    file: __filename,
  },
  async () => {
    fs.rmSync(WORK, { recursive: true, force: true });
    fs.mkdirSync(path.join(WORK, "tmp"), { recursive: true });
    host = await labHostUpAsync(path.join(WORK, "target"), { name: "ssh-helper", address: "127.0.9.131" });
    const started = Date.now();
    const r = spawnSync("bash", ["-c", HARNESS], {
      encoding: "utf8",
      timeout: 60_000,
      env: {
        ...process.env,
        COMMON: path.join(ROOT, "lib", "scripts", "common.sh"),
        BASE_KEY: host.baseHostKey,
        TMPDIR: path.join(WORK, "tmp"),
        NI_HOST: host.address, NI_PORT: String(host.port), NI_USER: "root", NI_UNLOCK_PORT: String(host.unlockPort),
        NI_HOST_NAME: "ssh-helper", NI_HOSTS_DIR: path.join(WORK, "hosts"), NI_TIMEOUT: "30", NI_IDENTITY_FILE: host.clientKey,
      },
    });
    const seconds = (Date.now() - started) / 1000;
    const out = `${r.stdout}\n${r.stderr}`;
    if (r.status !== 0) throw new Error(`the harness failed (exit ${r.status}):\n${out}`);
    if (!r.stdout.includes("stale-socket-left")) throw new Error(`a killed master should leave its socket behind (the case under test):\n${out}`);
    if (!/first-after-kill\nsecond-after-kill\n/.test(r.stdout)) throw new Error(`both commands after the kill should run:\n${out}`);
    if (/Control socket connect/.test(out)) throw new Error(`a stale socket was used:\n${out}`);
    const reopened = (r.stderr.match(/master connection is gone \(stale control socket\); opening a new one/g) ?? []).length;
    if (reopened !== 1) throw new Error(`expected exactly one replacement master, saw ${reopened}:\n${out}`);
    const report = /ssh: (\d+) master connection\(s\)/.exec(r.stderr);
    if (report?.[1] !== "2") throw new Error(`the transfer report should count 2 masters:\n${out}`);
    const tmp = /tmp=(\S+)/.exec(r.stdout)?.[1] ?? "";
    if (!tmp || fs.existsSync(tmp)) throw new Error(`the temp dir ${tmp} should be removed on exit`);
    return { happened: `socket left by the SIGKILLed master was detected by -O check; 1 new pinned master opened; both later commands ran; report counts 2 masters; temp dir removed`, seconds };
  },
);
