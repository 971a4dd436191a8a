import { App, IResolvable, TerraformElement, Token, Tokenization } from "cdktf";
import { IConstruct } from "constructs";

/** How a value only Terraform knows (at apply) appears in a message. */
export const TOKEN_SHOWN_AS = "a token (known at apply)";

/**
 * Collects every invalid prop of a construct, so a user fixes all of them in one round.
 * Message shape: `` `prop` must <rule>, got: `value` ``. Values that are unresolved
 * tokens are skipped by `check`: they are only known at apply time.
 */
export class PropErrors {
  private readonly list: string[] = [];
  private readonly failed = new Set<string>();

  /** Records a failure unless `ok` holds or `value` is an unresolved token. */
  check(ok: boolean, prop: string, rule: string, value: unknown): void {
    if (ok || isToken(value)) return;
    this.fail(prop, rule, value);
  }

  fail(prop: string, rule: string, value: unknown): void {
    this.failed.add(prop);
    this.list.push(`\`${prop}\` must ${rule}, got: \`${showValue(value)}\``);
  }

  /** True when `prop` already has a failure (later, more general rules skip it). */
  hasFailed(prop: string): boolean {
    return this.failed.has(prop);
  }

  get messages(): string[] {
    return [...this.list];
  }
}

/**
 * The checks of a construct's props. They are registered with `node.addValidation`, so
 * `cdktf synth` lists every problem of every construct at once, each under its construct
 * path. `guard` keeps an app with `skipValidation: true` from writing a configuration out
 * of props that failed them: the guarded resource throws their messages when synth renders it.
 */
export class PropChecks {
  private found?: string[];

  constructor(
    private readonly scope: IConstruct,
    private readonly collect: (errors: PropErrors) => void,
  ) {
    scope.node.addValidation({ validate: () => this.messages() });
  }

  /** The failures, collected once (after construction: the props never change). */
  messages(): string[] {
    if (!this.found) {
      const errors = new PropErrors();
      this.collect(errors);
      this.found = errors.messages;
    }
    return this.found;
  }

  /**
   * Lets `resource` render (JSON or HCL) only when the props passed their checks or the app
   * runs validations (then they report every problem, under their paths, before any
   * output). cdktf renders every resource of a stack before it writes a file, so one
   * guarded resource keeps the whole configuration unwritten. A wrapper rather than a lazy
   * token: a token costs a captured stack trace, once a host in a fleet.
   */
  guard(resource: TerraformElement): void {
    const assertWritable = () => {
      const messages = App.of(this.scope).skipValidation ? this.messages() : [];
      if (messages.length > 0) throw new Error(`${this.scope.node.path}: invalid props (the app skips validation, but these are never written):\n  ${messages.join("\n  ")}`);
    };
    const toJson = resource.toTerraform.bind(resource);
    const toHcl = resource.toHclTerraform.bind(resource);
    resource.toTerraform = () => (assertWritable(), toJson());
    resource.toHclTerraform = () => (assertWritable(), toHcl());
  }
}

export function isToken(value: unknown): boolean {
  if (typeof value === "string" || typeof value === "number") return Token.isUnresolved(value);
  if (Array.isArray(value)) return Token.isUnresolved(value) || value.some((v) => isToken(v));
  return false;
}

/**
 * Values a parent construct derived from its own props and checked itself (e.g. the
 * hoster facts HcloudNixosServer hands to NixosInstall): the child skips them, so one
 * mistake is reported once, under the prop the user wrote.
 */
const checkedByParent = new WeakSet<object>();
export function markCheckedByParent<T extends object>(value: T): T {
  checkedByParent.add(value);
  return value;
}
export function isCheckedByParent(value: unknown): boolean {
  return typeof value === "object" && value !== null && checkedByParent.has(value);
}

/** Encoded tokens as they appear inside a string: `${TfToken[TOKEN.12]}`, and `#{TfToken[…]}` of a list. */
const STRING_TOKEN = /[$#]\{TfToken\[[A-Za-z0-9_.-]+\]\}/g;

/** A value as a message shows it: tokens become "a token (known at apply)", never `#{TfToken[…]}`. */
export function showValue(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "number" && Token.isUnresolved(value)) return TOKEN_SHOWN_AS;
  if (Array.isArray(value) && Token.isUnresolved(value)) return TOKEN_SHOWN_AS;
  if (typeof value === "string") {
    if (Token.isUnresolved(value) && value.replace(STRING_TOKEN, "") === "") return TOKEN_SHOWN_AS;
    return escapeControls(value.replace(STRING_TOKEN, "<token>"));
  }
  return JSON.stringify(value, (_k, v) => (isToken(v) && !Array.isArray(v) ? TOKEN_SHOWN_AS : v)).replace(STRING_TOKEN, "<token>");
}

/** Control characters written as escapes, so a message stays one line and shows them. */
function escapeControls(text: string): string {
  const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0" };
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => named[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** The parts of a string written by the user, without the tokens cdktf put into it. */
export function literalParts(value: string): string[] {
  return value.split(STRING_TOKEN);
}

/**
 * A list token as an expression Terraform functions and for-expressions can take whole
 * (passed as the array cdktf encodes it, it would be read as one string).
 */
export function listExpression(list: string[]): IResolvable | string[] {
  return Tokenization.reverseList(list) ?? list;
}
