// The command line of cdktf-nixos-installer: commands, options, their rules and the
// usage texts. A bad argument is a UsageError (exit 2) that names the option, the rule,
// the value given and where to read more.
import { HOST_NAME_RULE, isHostName, ROLES } from "./host-record";

export const COMMANDS = ["unlock", "status", "ssh"] as const;
export type Command = (typeof COMMANDS)[number];

/** Seconds `unlock` waits in all, by default: the unlock phase's own default (timeouts.unlock). */
export const DEFAULT_UNLOCK_TIMEOUT = 600;
const MAX_TIMEOUT = 86400;

export class UsageError extends Error {}

export interface Parsed {
  /** undefined: no command was given (the general usage). */
  readonly command0?: Command;
  readonly help: boolean;
  readonly names: string[];
  readonly hostsDir: string;
  readonly timeout: number;
  readonly role: string;
  /** ssh: the remote command (after `--`). */
  readonly command: string[];
}

const PROG = "cdktf-nixos-installer";
const COMMON = `  --hosts-dir DIR   where the host records are (default: hosts, the construct's
                    default hostsDir, relative to where you run the command)
  --help            this text`;

const USAGE: Record<Command | "general", string> = {
  general: `Usage: ${PROG} <command> [options]

Day-2 commands for the hosts that an install chain (NixosInstall, HcloudNixosServer)
left in hosts/NAME/: it reads connection.json (address, ports, user, pool, the
passphrase's source, the identity file) and pins/ (the host keys of each role), and runs
the chain's own scripts. Every connection checks the pinned key (StrictHostKeyChecking=yes);
none trusts a key on first use.

Commands:
  unlock NAME               after a reboot: give the pool's passphrase to the host's
                            initrd and wait for the installed system
  status [NAME...]          which role each host answers as, by the key it offers
  ssh NAME [-- COMMAND...]  an OpenSSH session pinned to the host's key

Run \`${PROG} <command> --help\` for a command's options.
Exit status: 0 done, 1 a check failed (the message says which and what to do), 2 bad usage.
`,
  unlock: `Usage: ${PROG} unlock NAME [--timeout SECONDS] [--hosts-dir DIR]

After a reboot the host waits in its initrd for the ZFS passphrase. This reads the
passphrase from the source the stack names (hosts/NAME/connection.json: an environment
variable, a file or a command, as at terraform apply), sends it over SSH to the initrd
(pinned key, hosts/NAME/pins/initrd) on the unlock port, and waits until the installed
system answers with its pinned key (pins/installed). It runs the unlock phase's own
script (phase-unlock.sh). A host that is already up is left alone. The passphrase is
never in an argument, a file or the output. A command source runs in the directory you
run this in.

Options:
  --timeout SECONDS  how long it may take in all, from 1 to ${MAX_TIMEOUT} (default: ${DEFAULT_UNLOCK_TIMEOUT}, the
                     unlock phase's default); a host still down after it is reported
${COMMON}
`,
  status: `Usage: ${PROG} status [NAME...] [--hosts-dir DIR]

For each host recorded in the hosts directory (or each NAME), which role it answers as,
judged by the host key it offers, as the chain judges it: base, installer, initrd
(waiting for its passphrase: run \`${PROG} unlock NAME\`), installed, down. A key that
matches none of the host's pins is shown as UNKNOWN KEY and the command fails: this may
be a man in the middle. No credential is sent to any host.

Exit status: 0 every host answered with a pinned key or not at all, 1 a host offered a
key that matches no pin, or its record could not be read.

Options:
${COMMON}
`,
  ssh: `Usage: ${PROG} ssh NAME [--role ROLE] [--hosts-dir DIR] [-- COMMAND...]

An OpenSSH session (or COMMAND) as the chain's user on the host, with the role's pinned
key as the only known host key (StrictHostKeyChecking=yes) and the stack's identity
file (or your ssh-agent). Before connecting, the key the host offers is checked: a key
that matches no pin, or a host in another role, stops with a message.

Options:
  --role ROLE       ${ROLES.join(", ")} (default: installed)
${COMMON}

Exit status: the remote command's, 255 when ssh fails, 1 when the check before fails.
`,
};

export function usageOf(command?: Command): string {
  return USAGE[command ?? "general"];
}

/** Parses argv (without node and the script). Throws UsageError. */
export function parseCommandLine(argv: string[]): Parsed {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") return { help: true, names: [], hostsDir: "hosts", timeout: DEFAULT_UNLOCK_TIMEOUT, role: "installed", command: [] };
  if (!(COMMANDS as readonly string[]).includes(first)) {
    throw new UsageError(`the command must be one of ${COMMANDS.join(", ")}, got: '${first}' (see ${PROG} --help)`);
  }
  const command0 = first as Command;
  const see = `see ${PROG} ${command0} --help`;
  let help = false;
  const names: string[] = [];
  let hostsDir = "hosts";
  let timeout = DEFAULT_UNLOCK_TIMEOUT;
  let role = "installed";
  let command: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--") {
      if (command0 !== "ssh") throw new UsageError(`'--' (a remote command) is for ${PROG} ssh only, not ${command0} (${see})`);
      command = rest.slice(i + 1);
      if (command.length === 0) throw new UsageError(`'--' must be followed by the command to run on the host (${see})`);
      break;
    }
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (arg.startsWith("-")) {
      const eq = arg.indexOf("=");
      const option = eq > 0 ? arg.slice(0, eq) : arg;
      const allowed = ["--hosts-dir", ...(command0 === "unlock" ? ["--timeout"] : []), ...(command0 === "ssh" ? ["--role"] : [])];
      if (!allowed.includes(option)) throw new UsageError(`${command0} takes the options ${allowed.join(", ")}, --help; got: '${option}' (${see})`);
      let value: string;
      if (eq > 0) value = arg.slice(eq + 1);
      else if (i + 1 < rest.length) value = rest[++i];
      else throw new UsageError(`${option} needs a value (${see})`);
      if (option === "--hosts-dir") {
        if (value === "") throw new UsageError(`--hosts-dir must be a directory, got: '' (${see})`);
        hostsDir = value;
      } else if (option === "--timeout") {
        timeout = Number(value);
        if (!/^[0-9]+$/.test(value) || timeout < 1 || timeout > MAX_TIMEOUT) {
          throw new UsageError(`--timeout must be a whole number of seconds from 1 to ${MAX_TIMEOUT}, got: '${value}' (${see})`);
        }
      } else {
        if (!(ROLES as readonly string[]).includes(value)) throw new UsageError(`--role must be one of ${ROLES.join(", ")}, got: '${value}' (${see})`);
        role = value;
      }
      continue;
    }
    if (!isHostName(arg)) throw new UsageError(`NAME must ${HOST_NAME_RULE} (a directory of the hosts directory), got: '${arg}' (${see})`);
    names.push(arg);
  }
  if (!help) {
    if (command0 !== "status" && names.length !== 1) {
      throw new UsageError(`${command0} takes exactly one host NAME, got ${names.length === 0 ? "none" : `${names.length}: ${names.join(" ")}`} (${see})`);
    }
  }
  return { command0, help, names, hostsDir, timeout, role, command };
}
