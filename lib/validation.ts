import * as path from "path";
import { parseIpv4, parseIpv6 } from "./hcloud-validation";
import { literalParts } from "./prop-errors";

export { HOSTNAME_RULE, isHostName } from "./host-name";

/** What `host` may be: an address or a name that OpenSSH dials, never an option or a port. */
export const HOST_RULE =
  "be an IP address or DNS name (no port: set `port`; no brackets; no leading '-'; labels of a-z, 0-9, '-', '_'; at most 253 characters)";
/** An IPv4 or IPv6 literal, or a DNS name of 1 to 253 characters whose labels do not start with '-'. */
export function isHostAddress(value: string): boolean {
  if (value.length === 0 || value.length > 253) return false;
  if (parseIpv4(value) !== undefined || parseIpv6(value) !== undefined) return true;
  // Dotted digits that are no IPv4 address (999.1.1.1, 10.0.0) are a typo, not a name.
  if (/^[0-9.]+$/.test(value)) return false;
  return /^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?$/.test(value);
}

/**
 * The first two fields of an OpenSSH public key line (`type base64`): what a `.pub`
 * file holds without its comment and newline. Validation and the pin both use this form.
 */
export function normalizeKeyLine(value: string): string {
  return value.trim().split(/\s+/).slice(0, 2).join(" ");
}

/** What no string written into the Terraform configuration may hold (outside cdktf's tokens). */
export const TERRAFORM_TEXT_RULE =
  "hold no '%{' or '${' (Terraform would read a template), carriage return or NUL character";
export function isTerraformSafeText(value: string): boolean {
  return literalParts(value).every((part) => !/%\{|\$\{|[\r\0]/.test(part));
}

/** A stable disk path; one pattern serves the synth-time check and the apply-time precondition. */
export const DISK_PATH_PATTERN = "^/dev/[A-Za-z0-9._:+@/-]+$";
export const DISK_PATH_RULE = "be a device path under /dev (letters, digits, . _ : + @ / -)";

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

/** A Unix user name the chain logs in as. */
export const isUserName = (v: string): boolean => /^[a-z_][a-z0-9_-]{0,31}$/.test(v);
export const USER_RULE = "be a Unix user name";

/**
 * A line of root's authorized keys as the props take it: an OpenSSH public key line whose
 * comment holds no quote, backslash or $ (the deploy scripts and Nix strings carry it).
 */
export const isRootKeyLine = (k: unknown): boolean => typeof k === "string" && isPublicKey(k) && !/["\\$]/.test(k);
export const ROOT_KEY_RULE = "be an OpenSSH public key line (no quotes, backslashes or $ in its comment)";

/** A ZFS pool name. */
export const isPoolName = (v: string): boolean => /^[a-z][a-z0-9_.-]{0,63}$/.test(v);
export const POOL_RULE = "be a ZFS pool name (a-z first, then a-z, 0-9, _ . -)";

/** Paths the deploy scripts take as one shell word (they are never quoted twice). */
const SHELL_UNSAFE = /[\s'"`$\\]/;

/** An SSH key file path. */
export const isKeyFilePath = (v: string): boolean => v.length > 0 && !SHELL_UNSAFE.test(v);
export const KEY_FILE_RULE = "be a key file path without spaces or quotes";

/** hosts/: outside cdktf.out, which a new synth empties. */
export const isHostsDir = (v: string): boolean => !path.normalize(v).split(path.sep).includes("cdktf.out") && !SHELL_UNSAFE.test(v);
export const HOSTS_DIR_RULE = "lie outside cdktf.out (a new synth would delete it) and hold no spaces or quotes";

