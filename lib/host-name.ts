// The host name rule, apart from the rest of validation.ts: the command-line tool
// (lib/cli/) uses it too, and may load nothing of cdktf (it serves cdktn projects alike).

/** One DNS label: a-z, 0-9 and '-', 1 to 63 characters, no '-' at either end. */
export const HOSTNAME_RULE = "be a valid hostname (a-z, 0-9, '-', at most 63, no '-' at either end)";
export function isHostName(value: string): boolean {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(value);
}
