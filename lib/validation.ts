import { Token } from "cdktf";

/**
 * Collects every invalid prop of a construct and throws once, so a user fixes all of
 * them in one round. Message shape: `` `prop` must <rule>, got: `value` ``.
 * Values that are unresolved tokens are skipped: they are only known at apply time.
 */
export class PropErrors {
  private readonly messages: string[] = [];

  constructor(private readonly construct: string) {}

  /** Records a failure unless `ok` holds or `value` is an unresolved token. */
  check(ok: boolean, prop: string, rule: string, value: unknown): void {
    if (ok || isToken(value)) return;
    this.fail(prop, rule, value);
  }

  fail(prop: string, rule: string, value: unknown): void {
    this.messages.push(`\`${prop}\` must ${rule}, got: \`${show(value)}\``);
  }

  get count(): number {
    return this.messages.length;
  }

  /** Throws one Error listing every failure, if there was any. */
  throwIfAny(): void {
    if (this.messages.length === 0) return;
    const lines = this.messages.map((m) => `  - ${m}`).join("\n");
    throw new Error(`${this.construct}: invalid props:\n${lines}`);
  }
}

export function isToken(value: unknown): boolean {
  if (typeof value === "string" || typeof value === "number") return Token.isUnresolved(value);
  if (Array.isArray(value)) return Token.isUnresolved(value) || value.some((v) => isToken(v));
  return false;
}

function show(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** One DNS label: a-z, 0-9 and '-', 1 to 63 characters, no '-' at either end. */
export const HOSTNAME_RULE = "be a valid hostname (a-z, 0-9, '-', at most 63, no '-' at either end)";
export function isHostName(value: string): boolean {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(value);
}

export function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** An OpenSSH ed25519 public key line (a comment after the key is allowed). */
export function isEd25519PublicKey(value: string): boolean {
  return /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]{48,}={0,2}( [^\n]*)?$/.test(value.trim());
}

// Key types sshd takes from authorized_keys: ed25519, RSA, ECDSA and the FIDO (sk-) kinds
// (DSA is gone from OpenSSH 10), and the options it knows, spelled as sshd(8) spells them.
// The same rule lives in nix/lib/authorized-key-line.nix, nix/installer/run-installer and
// nix/installer/do-install; __tests__/nix/authorized-keys.test.ts runs one table of lines
// through all four.
const KEY_TYPE = "(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com)";
const SSHD_OPTION =
  '(agent-forwarding|cert-authority|command|environment|expiry-time|from|no-agent-forwarding|no-port-forwarding|no-pty|no-touch-required|no-user-rc|no-X11-forwarding|permitlisten|permitopen|port-forwarding|principals|pty|restrict|tunnel|user-rc|verify-required|X11-forwarding)(="([^"\\\\]|\\\\.)*")?';
const KEY = `${KEY_TYPE}[ \\t]+[A-Za-z0-9+/]+={0,3}([ \\t][^\\n\\r]*)?`;
const PUBLIC_KEY_RE = new RegExp(`^${KEY}$`);
const AUTHORIZED_KEY_RE = new RegExp(`^[ \\t]*(${SSHD_OPTION}(,${SSHD_OPTION})*[ \\t]+)?${KEY}$`);

/** An OpenSSH public key line (`type base64 [comment]`) of a type sshd accepts. */
export function isPublicKey(value: string): boolean {
  return PUBLIC_KEY_RE.test(value.trim());
}

/** The rule of {@link isAuthorizedKey}, for messages. */
export const AUTHORIZED_KEY_RULE =
  "be one OpenSSH authorized_keys line: optional sshd options (e.g. `from=\"10.0.0.0/8\",no-pty`), then a key of type ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-nistp256@openssh.com, its base64 and an optional comment";

/** One line of an OpenSSH authorized_keys file: optional sshd options, then a public key. */
export function isAuthorizedKey(value: string): boolean {
  return AUTHORIZED_KEY_RE.test(value.replace(/\s+$/, ""));
}
