// A man in the middle for the lab: an OpenSSH server on a lab host's address and port
// with a host key of its own, which accepts the lab's client key and keeps whatever a
// client sends it. The chain must refuse it before it sends anything.
import { execFileSync, spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface Impostor {
  readonly dir: string;
  /** Files holding what clients sent (one a session). */
  received(): string[];
  /** The impostor sshd's own log (LogLevel DEBUG1: the key exchange each client chose, and
   * every authentication request, "userauth-request for user …", that reached it). */
  log(): string;
  stop(): Promise<void>;
}

export async function startImpostor(o: { dir: string; address: string; port: number; clientPublicKey: string }): Promise<Impostor> {
  fs.rmSync(o.dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(o.dir, "received"), { recursive: true });
  const key = path.join(o.dir, "ssh_host_ed25519_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  fs.writeFileSync(path.join(o.dir, "authorized_keys"), `${fs.readFileSync(o.clientPublicKey, "utf8").trim()}\n`);
  const config = [
    `ListenAddress ${o.address}:${o.port}`,
    `HostKey ${key}`,
    `AuthorizedKeysFile ${path.join(o.dir, "authorized_keys")}`,
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "LogLevel DEBUG1",
    "StrictModes no",
    `PidFile ${path.join(o.dir, "sshd.pid")}`,
    `ForceCommand cat > ${path.join(o.dir, "received")}/session-$$`,
  ].join("\n");
  fs.writeFileSync(path.join(o.dir, "sshd_config"), `${config}\n`);
  fs.mkdirSync("/run/sshd", { recursive: true });
  const child: ChildProcess = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", path.join(o.dir, "sshd_config")], { stdio: ["ignore", "ignore", fs.openSync(path.join(o.dir, "sshd.log"), "a")] });
  // Bounded wait until it answers.
  for (let i = 0; i < 50; i++) {
    try {
      execFileSync("ssh-keyscan", ["-T", "1", "-p", String(o.port), o.address], { stdio: ["ignore", "pipe", "ignore"] });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    dir: o.dir,
    log: () => fs.readFileSync(path.join(o.dir, "sshd.log"), "utf8"),
    received: () => fs.readdirSync(path.join(o.dir, "received")).map((f) => path.join(o.dir, "received", f)),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
