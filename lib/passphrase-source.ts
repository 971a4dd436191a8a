import { PropErrors } from "./prop-errors";

/** Where the disk passphrase comes from. */
export type PassphraseKind = "env" | "file" | "command";

/**
 * Where the deploy machine reads the disk passphrase at apply time. There is no way to
 * give a literal: the passphrase never enters the synthesized configuration or the
 * Terraform state, only the name of its source does.
 */
export class PassphraseSource {
  /** The passphrase is the value of an environment variable of the `terraform apply` process. */
  static fromEnv(name: string): PassphraseSource {
    return new PassphraseSource("env", name);
  }

  /**
   * The passphrase is the content of a file (one trailing newline is dropped). A
   * relative path is taken from the directory where `cdktf synth` runs.
   */
  static fromFile(path: string): PassphraseSource {
    return new PassphraseSource("file", path);
  }

  /**
   * The passphrase is what a command prints (run by `bash -c` at apply time), for
   * example `pass show hosts/web-1/disk`. One trailing newline is dropped.
   */
  static fromCommand(command: string): PassphraseSource {
    return new PassphraseSource("command", command);
  }

  private constructor(
    /** `env`, `file` or `command`. */
    public readonly kind: PassphraseKind,
    /** The variable name, file path or command. */
    public readonly ref: string,
  ) {}

  /** @internal */
  _validate(errors: PropErrors, prop: string): void {
    switch (this.kind) {
      case "env":
        errors.check(/^[A-Za-z_][A-Za-z0-9_]*$/.test(this.ref), `${prop}`, "name an environment variable ([A-Za-z_][A-Za-z0-9_]*)", this.ref);
        errors.check(
          !isReservedEnvName(this.ref),
          `${prop}`,
          `name a variable of your own, not one that the shell, Terraform, SSH or this chain sets (${[...RESERVED_ENV_NAMES, ...RESERVED_ENV_PREFIXES.map((p) => `${p}*`)].join(" ")}): its value would become the pool key`,
          this.ref,
        );
        break;
      case "file":
        errors.check(this.ref.length > 0 && !/[\s"'`$\\]/.test(this.ref), `${prop}`, "be a file path without spaces, quotes, backslashes or $", this.ref);
        break;
      case "command":
        // The synthesized HCL cannot carry these characters, and Terraform would
        // interpolate "${": a command that needs them belongs in a script file.
        errors.check(
          this.ref.trim().length > 0 && !/[\n"\\]|\$\{|%\{/.test(this.ref),
          `${prop}`,
          "be a one-line command without double quotes, backslashes, '${' or '%{' (put a complex command in a script and run that)",
          this.ref,
        );
        break;
    }
  }
}

/** Variables of the process that runs the deploy scripts: never a passphrase. */
const RESERVED_ENV_NAMES = [
  "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "TERM", "LANG", "LANGUAGE", "TZ", "TMPDIR",
  "HOSTNAME", "SHLVL", "MAIL", "DISPLAY", "EDITOR", "PAGER", "IFS", "PS1", "PS2", "PS4", "CDPATH", "ENV", "BASH_ENV", "_",
];
/** Prefixes of whole families: the chain's own settings (NI_), Terraform's (TF_), the locale, SSH, bash, the loader. */
const RESERVED_ENV_PREFIXES = ["NI_", "TF_", "LC_", "SSH_", "BASH_", "LD_"];

function isReservedEnvName(name: string): boolean {
  return RESERVED_ENV_NAMES.includes(name) || RESERVED_ENV_PREFIXES.some((p) => name.startsWith(p));
}
