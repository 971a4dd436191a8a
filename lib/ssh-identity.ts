/**
 * How the deploy machine authenticates to the host. Key material never enters the
 * configuration or the state: only the agent, or the path of a key file.
 */
export class SshIdentity {
  /** Use the keys of the running ssh-agent (`SSH_AUTH_SOCK`). */
  static agent(): SshIdentity {
    return new SshIdentity(undefined);
  }

  /**
   * Use one private key file (and only it). A relative path is taken from the directory
   * where `cdktf synth` runs.
   */
  static keyFile(path: string): SshIdentity {
    return new SshIdentity(path);
  }

  private constructor(
    /**
     * Path of the private key file.
     * @default - undefined for the agent
     */
    public readonly keyPath?: string,
  ) {}
}
