"use strict";
// One transient unit of the lab's systemd-run (nixos-system.js): `transient-unit.js
// /run/lab-systemd/NAME.json`. Runs outside every SSH session (systemd-run starts it
// with setsid -f). A timer waits its delay first and fires only while its file is
// there (`systemctl stop NAME.timer` removes it); the service's command runs with the
// unit's environment only, its output in /run/lab-systemd/NAME.service.log and its exit
// status in NAME.service.exit. Each firing is a line in the lab's records.
const fs = require("fs");
const { spawnSync } = require("child_process");

const file = process.argv[2];
const LAB = process.env.LAB_ROOT || "/.lab";

function record(event, extra) {
  fs.appendFileSync(`${LAB}/records/records.jsonl`, JSON.stringify({ time: new Date().toISOString(), tool: "systemd", event, ...extra }) + "\n");
}

function run(unit) {
  const service = unit.name.replace(/\.(timer|service)$/, "");
  // Taken atomically: a stop that comes later finds the timer gone, as a real one does.
  try {
    fs.renameSync(file, `${file}.running`);
  } catch {
    return;
  }
  const log = fs.openSync(`/run/lab-systemd/${service}.service.log`, "a");
  if (unit.name.endsWith(".timer")) record("timer-fired", { unit: unit.name });
  const r = spawnSync(unit.command[0], unit.command.slice(1), { env: unit.env, stdio: ["ignore", log, log] });
  const exit = r.status ?? 1;
  fs.writeFileSync(`/run/lab-systemd/${service}.service.exit.tmp`, `${exit}\n`);
  fs.renameSync(`/run/lab-systemd/${service}.service.exit.tmp`, `/run/lab-systemd/${service}.service.exit`);
  fs.rmSync(`${file}.running`, { force: true });
  record("unit-finished", { unit: `${service}.service`, command: unit.command, exit });
}

const unit = JSON.parse(fs.readFileSync(file, "utf8"));
try {
  // r+: a timer stopped meanwhile is not made again
  fs.writeFileSync(file, JSON.stringify({ ...unit, pid: process.pid }) + "\n", { flag: "r+" });
} catch {
  process.exit(0);
}
setTimeout(() => run(unit), unit.delay * 1000);
