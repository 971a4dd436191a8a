import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Testing, TerraformStack } from "cdktf";
import { HostConfiguration, NixosInstall, NixosRebuild, NixosRebuildProps, SshIdentity } from "../../lib";
import { installProps } from "../support/install-props";
import { synthInProject, terraformValidate } from "../support/synth-project";
import { BASE_KEY, USER_KEY } from "../support/keys";

// Any other ed25519 key line will do for the initrd.
const INITRD_KEY = USER_KEY.split(" ").slice(0, 2).join(" ");

/** A stack with an install of web-1 and a rebuild of it (props of the rebuild changed). */
function withInstall(props: Partial<NixosRebuildProps> = {}): any {
  const app = Testing.app();
  const stack = new TerraformStack(app, "test");
  const install = new NixosInstall(stack, "host", installProps());
  new NixosRebuild(stack, "rebuild", { install, ...props });
  return JSON.parse(Testing.synth(stack, true));
}

/** A rebuild of a host installed some other way. */
function standalone(props: Partial<NixosRebuildProps>): any {
  const app = Testing.app();
  const stack = new TerraformStack(app, "test");
  new NixosRebuild(stack, "rebuild", { host: "203.0.113.20", hostKey: BASE_KEY, initrdHostKey: INITRD_KEY, hostName: "db-1", authorizedKeys: [USER_KEY], ...props });
  return JSON.parse(Testing.synth(stack, true));
}

function rebuildOf(config: any): { triggers: Record<string, string>; command: string; env: Record<string, string> } {
  const [, r] = Object.entries(config.resource.terraform_data as Record<string, any>).find(([, x]) => x.triggers_replace.phase === "rebuild")!;
  const exec = r.provisioner[0]["local-exec"];
  const local = /^\$\{local\.([A-Za-z0-9_]+)\}$/.exec(exec.environment)![1];
  return { triggers: r.triggers_replace, command: exec.command, env: config.locals[local] };
}

/** A flake directory (outside any git work tree) with the given flake.nix. */
function flakeDir(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebuild-config-"));
  fs.writeFileSync(path.join(dir, "flake.nix"), text);
  return dir;
}
const fromFlake = (dir: string, attribute?: string) => HostConfiguration.fromFlake({ dir, attribute });

describe("NixosRebuild synth", () => {
  test("one terraform_data running phase-rebuild.sh after the install's verify, with the install's host, records and keys", () => {
    const config = withInstall();
    const { triggers, command, env } = rebuildOf(config);
    expect(command).toMatch(/^NI_TIMEOUT=1800 bash assets\/[^ ]+\/phase-rebuild\.sh$/);
    expect(env).toMatchObject({
      NI_HOST: "203.0.113.10",
      NI_HOST_NAME: "web-1",
      NI_REBUILD_MODE: "switch",
      NI_REBUILD_ROLLBACK_AFTER: "120",
      NI_REBUILD_ATTRIBUTE: "web-1",
      NI_RUNTIME_INFO_PATH: "runtime-info.json",
      NI_AUTHORIZED_KEY_0: USER_KEY,
      NI_INSTALLED_HOST_KEY: "",
    });
    expect(env.NI_RESOURCES).toMatch(/^probe=terraform_data\.\S+ .* verify=terraform_data\.\S+ rebuild=terraform_data\.rebuild_\S+$/);
    // The runtime-info is read after verify (a reference to its id), as its record is written there.
    const verify = Object.keys(config.resource.terraform_data).find((k) => k.includes("verify"));
    expect(triggers.runtime_info).toContain(`terraform_data.${verify}.id`);
    expect(triggers.runtime_info).toContain("filesha256");
  });

  test("the trigger changes with the configuration's content and the keys, not with the rollback timeout", () => {
    const a = flakeDir("{ outputs = _: { }; }\n");
    const b = flakeDir("{ outputs = _: { }; } # changed\n");
    const base = rebuildOf(withInstall({ configuration: fromFlake(a) })).triggers;
    expect(rebuildOf(withInstall({ configuration: fromFlake(a) })).triggers).toEqual(base);
    expect(rebuildOf(withInstall({ configuration: fromFlake(b) })).triggers.configuration).not.toBe(base.configuration);
    // the template's keys are the prop's
    expect(rebuildOf(withInstall({ authorizedKeys: [USER_KEY, BASE_KEY] })).triggers.authorized_keys).not.toBe(rebuildOf(withInstall()).triggers.authorized_keys);
    expect(rebuildOf(withInstall({ configuration: fromFlake(a), rollbackTimeout: 300 })).triggers).toEqual(base);
    // Without a configuration: the template the host was installed from.
    expect(rebuildOf(withInstall()).triggers.configuration).not.toBe(base.configuration);
  });

  test("by default it builds what was installed: a user's flake goes as the install's own asset, runtime-info where the flake reads it, no keys beside it", () => {
    const configuration = HostConfiguration.fromFlake({ dir: flakeDir("{ }") });
    const app = Testing.app();
    const stack = new TerraformStack(app, "test");
    const install = new NixosInstall(stack, "host", { ...installProps(), configuration });
    new NixosRebuild(stack, "rebuild", { install });
    const config = JSON.parse(Testing.synth(stack, true));
    const { env, triggers } = rebuildOf(config);
    const installEnv = Object.values(config.locals as Record<string, any>).find((l) => l.NI_FLAKE !== undefined);
    expect(env.NI_REBUILD_CONFIG).toBe(installEnv.NI_FLAKE);
    expect(env.NI_RUNTIME_INFO_PATH).toBe("hosts/web-1/runtime-info.json");
    expect(Object.keys(env).filter((k) => k.startsWith("NI_AUTHORIZED_KEY_"))).toEqual([]);
    expect(triggers.configuration).toBe(`sha256:${configuration.contentHash}`);
    expect(installEnv.NI_CONFIGURATION).toBe(triggers.configuration);
  });

  test("buildOn comes from the install unless the rebuild sets its own, and is no trigger", () => {
    const configuration = HostConfiguration.fromFlake({ dir: flakeDir("{ }") });
    const synth = (installBuildOn?: string, rebuildBuildOn?: string) => {
      const app = Testing.app();
      const stack = new TerraformStack(app, "test");
      const install = new NixosInstall(stack, "host", { ...installProps(), configuration, buildOn: installBuildOn });
      new NixosRebuild(stack, "rebuild", { install, buildOn: rebuildBuildOn });
      return rebuildOf(JSON.parse(Testing.synth(stack, true)));
    };
    expect(synth().env.NI_BUILD_ON).toBe("target");
    expect(synth("deployer").env.NI_BUILD_ON).toBe("deployer");
    expect(synth("deployer", "target").env.NI_BUILD_ON).toBe("target");
    expect(synth(undefined, "deployer").env.NI_BUILD_ON).toBe("deployer");
    expect(synth(undefined, "deployer").triggers).toEqual(synth().triggers);
  });

  test("a host installed some other way: its given key is pinned by the script, its record dir is hosts/NAME", () => {
    const { env, triggers } = rebuildOf(standalone({ identity: SshIdentity.keyFile("keys/deploy"), mode: "test", rollbackTimeout: 60, configuration: fromFlake(flakeDir("{ }"), "db"), authorizedKeys: undefined }));
    expect(env).toMatchObject({ NI_HOST: "203.0.113.20", NI_PORT: "22", NI_HOST_NAME: "db-1", NI_INSTALLED_HOST_KEY: BASE_KEY, NI_REBUILD_MODE: "test", NI_REBUILD_ROLLBACK_AFTER: "60", NI_REBUILD_ATTRIBUTE: "db" });
    expect(env.NI_HOSTS_DIR).toMatch(/(^|\/)hosts$/);
    expect(env.NI_IDENTITY_FILE).toMatch(/keys\/deploy$/);
    expect(triggers.runtime_info).not.toContain("terraform_data");
  });

  test.each<[string, Partial<NixosRebuildProps>, string]>([
    ["mode", { mode: "reboot" }, '`mode` must be "switch", "boot" or "test", got: `reboot`'],
    ["rollbackTimeout", { rollbackTimeout: 5 }, "`rollbackTimeout` must be a whole number of seconds from 10 to 3600, got: `5`"],
    ["timeout", { rollbackTimeout: 600, timeout: 600 }, "`timeout` must be a whole number of seconds, at most 86400 and more than `rollbackTimeout` + 90 (690): the rebuild waits that long for the host's own rollback, got: `600`"],
    ["configuration.dir", { configuration: fromFlake("/nonexistent/flake") }, "`configuration.dir` must be an existing directory (relative to where cdktf synth runs: "],
    ["configuration.attribute", { configuration: fromFlake(flakeDir("{ }"), "web 1") }, "`configuration.attribute` must be a Nix attribute name (A-Z a-z _ first, then A-Z a-z 0-9 _ -; at most 128), the NAME of nixosConfigurations.NAME, got: `web 1`"],
    ["configuration", { configuration: { dir: "flake" } as never }, "`configuration` must be a HostConfiguration (template() or fromFlake({ dir })), got: "],
    [
      "authorizedKeys (with fromFlake)",
      { configuration: fromFlake(flakeDir("{ }")), authorizedKeys: [USER_KEY] },
      "`authorizedKeys` must be unset with HostConfiguration.fromFlake: root's keys are your flake's own (lib.mkHosts' authorizedKeys, or users.users.root.openssh.authorizedKeys in your modules), got: ",
    ],
    ["authorizedKeys", { authorizedKeys: [] }, "`authorizedKeys` must hold at least one public key (a host without one locks everybody out), got: `[]`"],
    ["authorizedKeys[0]", { authorizedKeys: ["not a key"] }, "`authorizedKeys[0]` must be an OpenSSH public key line (no quotes, backslashes or $ in its comment), got: `not a key`"],
    ["host (with install)", { host: "203.0.113.99" }, "`host` must be unset when `install` is given (the install's is used), got: `203.0.113.99`"],
    ["buildOn", { buildOn: "laptop" }, '`buildOn` must be "target" or "deployer", got: `laptop`'],
    ["buildOn (with the template)", { buildOn: "deployer" }, '`buildOn` must be "target" unless `configuration` is HostConfiguration.fromFlake({ dir }): "deployer" builds your flake'],
  ])("refuses a bad %s, naming the property, the rule and the value", (_name, props, message) => {
    expect(() => withInstall(props)).toThrow(message);
  });

  test("without an install, host, hostKey, hostName and authorizedKeys are required, all reported at once", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "test");
    new NixosRebuild(stack, "rebuild", { hostKey: "ssh-rsa AAAAB3NzaC1yc2E= x" });
    let message = "";
    try {
      Testing.synth(stack, true);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain("`host` must be an IP address or DNS name");
    expect(message).toContain("`hostKey` must be the installed system's ed25519 public key line (ssh-ed25519 AAAA…) when `install` is not given, got: `ssh-rsa AAAAB3NzaC1yc2E= x`");
    expect(message).toContain("`initrdHostKey` must be the initrd SSH server's ed25519 public key line (ssh-ed25519 AAAA…) when `install` is not given (the verify checks record it), got: `undefined`");
    expect(message).toContain("`hostName` must be");
    expect(message).toContain("`authorizedKeys` must be given when `install` is not given and the configuration is the template (root's keys on the host), got: `undefined`");
  });
});

describe("terraform validate", () => {
  test.each([["JSON", false], ["HCL", true]])("accepts an install with its rebuild in the %s form, with no warning and no path of the synth machine", (_form, hcl) => {
    const synthesized = synthInProject(
      (stack) => {
        const install = new NixosInstall(stack, "host", installProps());
        new NixosRebuild(stack, "rebuild", { install, mode: "test", rollbackTimeout: 60 });
      },
      { hcl: hcl as boolean },
    );
    try {
      const file = path.join(synthesized.stackDir, hcl ? "cdk.tf" : "cdk.tf.json");
      expect(fs.readFileSync(file, "utf8")).not.toContain(synthesized.project);
      const result = terraformValidate(synthesized.stackDir);
      expect(result.diagnostics).toEqual([]);
      expect(result.valid).toBe(true);
      expect(result.warning_count).toBe(0);
    } finally {
      synthesized.remove();
    }
  });
});
