// HostConfiguration.fromFlake: which files are sent, their content hash, the stack asset
// they are sent from, the install's identity, and the synth-time errors.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App, Testing, TerraformStack } from "cdktf";
import { HostConfiguration, NixosInstall } from "../../lib";
import { RECORD_DIRS, RECORD_FILES } from "../../lib/host-configuration";
import { settingsFromEnv } from "../../examples/existing-host/main";
import { installProps, URL_BUNDLE } from "../support/install-props";
import { BASE_KEY, USER_KEY } from "../support/keys";
import { synthServer } from "../hcloud/helpers";

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "host-configuration-"));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A flake directory with the given files (path → content; a leading '!' makes it executable). */
function flakeDir(files: Record<string, string>, at = path.join(tmp, "infra")): string {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(at, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content.replace(/^!/, ""), { mode: content.startsWith("!") ? 0o755 : 0o644 });
  }
  return at;
}
const hashOf = (dir: string, options: { runtimeInfoPath?: string } = {}) => HostConfiguration.fromFlake({ dir, ...options }).contentHash;
const git = (dir: string, ...args: string[]) => execFileSync("git", ["-C", dir, "-c", "user.email=t@example.org", "-c", "user.name=t", ...args], { stdio: "pipe" });
const FLAKE = { "flake.nix": "{ outputs = _: { }; }\n", "hosts/common.nix": "{ }\n", "bin/hook": "!#!/bin/sh\n" };

/** Synth of one install of `configuration`, with the checks cdktf synth runs. */
function synth(configuration: HostConfiguration, outdir = path.join(tmp, "cdktf.out")): { config: any; outdir: string } {
  const app = new App({ outdir, stackTraces: false });
  const stack = new TerraformStack(app, "test");
  new NixosInstall(stack, "host", installProps({ configuration }));
  const config = JSON.parse(Testing.synth(stack, true));
  // writes the assets too
  app.synth();
  return { config, outdir };
}
const probeOf = (config: any) => Object.values(config.resource.terraform_data as Record<string, any>).find((r) => r.triggers_replace.phase === "probe");
const settingsOf = (config: any) => Object.values(config.locals as Record<string, Record<string, string>>)[0];

describe("HostConfiguration.fromFlake: the content hash", () => {
  test("is a sha256 that stays the same for the same files", () => {
    const dir = flakeDir(FLAKE);
    expect(hashOf(dir)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashOf(dir)).toBe(hashOf(flakeDir(FLAKE, path.join(tmp, "copy"))));
  });

  test("changes when one byte, a mode, a file's name or a new file changes", () => {
    const dir = flakeDir(FLAKE);
    const before = hashOf(dir);
    const seen = new Set([before]);
    const change = (f: () => void) => {
      f();
      const h = hashOf(dir);
      expect(seen.has(h)).toBe(false);
      seen.add(h);
    };
    change(() => fs.writeFileSync(path.join(dir, "hosts/common.nix"), "{ } \n"));
    change(() => fs.chmodSync(path.join(dir, "hosts/common.nix"), 0o755));
    change(() => fs.renameSync(path.join(dir, "hosts/common.nix"), path.join(dir, "hosts/other.nix")));
    change(() => flakeDir({ "hosts/web-1/configuration.nix": "{ }\n" }, dir));
  });

  test("does not change with what is never sent: result links, the chain's records of any host", () => {
    const dir = flakeDir(FLAKE);
    const before = hashOf(dir);
    fs.symlinkSync("/nix/store/00000000000000000000000000000000-x", path.join(dir, "result"));
    fs.symlinkSync("/nix/store/00000000000000000000000000000000-y", path.join(dir, "result-dev"));
    flakeDir({
      "hosts/web-1/runtime-info.json": "{}",
      "hosts/web-1/ssh_host_ed25519_key.pub": "ssh-ed25519 AAAA",
      "hosts/web-1/initrd_ssh_host_ed25519_key.pub": "ssh-ed25519 AAAA",
      "hosts/web-1/connection.json": "{}",
      "hosts/web-1/install.json": "{}",
      "hosts/web-1/pins/base": "ssh-ed25519 AAAA",
      "hosts/web-2/archive/2026-01-01T00:00:00Z/runtime-info.json": "{}",
    }, dir);
    expect(hashOf(dir)).toBe(before);
    // a user's own file beside the records is configuration
    flakeDir({ "hosts/web-1/authorized_keys": "ssh-ed25519 AAAA me\n" }, dir);
    expect(hashOf(dir)).not.toBe(before);
  });

  test("leaves out exactly the records the chain archives (release-records.sh's list)", () => {
    const script = fs.readFileSync(path.join(__dirname, "..", "..", "lib", "scripts", "release-records.sh"), "utf8");
    const archived = /^RECORDS=\(([^)]*)\)$/m.exec(script)?.[1].split(/\s+/).filter(Boolean) ?? [];
    expect(archived.length).toBeGreaterThan(0);
    expect([...RECORD_FILES, ...RECORD_DIRS.filter((d) => d !== "archive"), "runtime-info.json"].sort()).toEqual([...archived].sort());
  });

  test("with another runtimeInfoPath, the records are the ones beside it", () => {
    const dir = flakeDir(FLAKE);
    const before = hashOf(dir, { runtimeInfoPath: "machines/{hostName}/facts.json" });
    flakeDir({ "machines/web-1/facts.json": "{}", "machines/web-1/pins/base": "k" }, dir);
    expect(hashOf(dir, { runtimeInfoPath: "machines/{hostName}/facts.json" })).toBe(before);
    flakeDir({ "hosts/web-1/runtime-info.json": "{}" }, dir);
    expect(hashOf(dir, { runtimeInfoPath: "machines/{hostName}/facts.json" })).not.toBe(before);
  });

  test("in a git work tree covers exactly the tracked files (Nix's view), with their work-tree bytes", () => {
    const repo = flakeDir({ ...FLAKE, "README.md": "infra\n" }, path.join(tmp, "repo"));
    git(repo, "init", "-q");
    git(repo, "add", "flake.nix", "hosts/common.nix", "bin/hook");
    const tracked = hashOf(repo);
    // untracked files (README.md, node_modules/…) are not sent
    flakeDir({ "node_modules/x/index.js": "1" }, repo);
    expect(hashOf(repo)).toBe(tracked);
    // the same three files outside git give the same hash
    expect(tracked).toBe(hashOf(flakeDir(FLAKE, path.join(tmp, "plain"))));
    // a staged file counts, and an edit in the work tree too (uncommitted)
    git(repo, "add", "README.md");
    const staged = hashOf(repo);
    expect(staged).not.toBe(tracked);
    fs.appendFileSync(path.join(repo, "flake.nix"), "\n");
    expect(hashOf(repo)).not.toBe(staged);
  });
});

describe("NixosInstall with a user's flake", () => {
  test("sends exactly the files of the hash from a stack asset, and makes the hash part of the install's identity", () => {
    const dir = flakeDir({ ...FLAKE, "hosts/web-1/ssh_host_ed25519_key.pub": "ssh-ed25519 AAAA" });
    fs.symlinkSync("/nix/store/00000000000000000000000000000000-x", path.join(dir, "result"));
    const configuration = HostConfiguration.fromFlake({ dir, attribute: "web_1" });
    const { config, outdir } = synth(configuration);
    const settings = settingsOf(config);
    expect(settings.NI_FLAKE).toMatch(new RegExp(`^assets/nixos-install-host-flake-${configuration.contentHash!.slice(0, 12)}/${configuration.contentHash}$`));
    expect(settings.NI_FLAKE_ATTRIBUTE).toBe("web_1");
    expect(settings.NI_RUNTIME_INFO_PATH).toBe("hosts/web-1/runtime-info.json");
    expect(probeOf(config).triggers_replace.configuration).toBe(`sha256:${configuration.contentHash}`);
    const asset = path.join(outdir, "stacks", "test", settings.NI_FLAKE);
    const listing = execFileSync("find", [".", "-printf", "%P %y %m\n"], { cwd: asset, encoding: "utf8" }).split("\n").filter((l) => l !== " d 755" && l !== "").sort();
    expect(listing).toEqual(["bin d 755", "bin/hook f 755", "flake.nix f 644", "hosts d 755", "hosts/common.nix f 644"]);
    for (const f of ["flake.nix", "bin/hook", "hosts/common.nix"]) expect(fs.readFileSync(path.join(asset, f))).toEqual(fs.readFileSync(path.join(dir, f)));
  });

  test("the template leaves the identity and the settings as they were", () => {
    const { config } = synth(HostConfiguration.template());
    expect(Object.keys(probeOf(config).triggers_replace).sort()).toEqual(["disks", "first_host_key", "host", "host_dir", "host_name", "phase", "pool", "port", "system", "unlock_port", "wipe"]);
    expect(Object.keys(settingsOf(config)).filter((k) => /^NI_FLAKE|^NI_RUNTIME_INFO_PATH|^NI_CONFIGURATION/.test(k))).toEqual([]);
  });

  test("HcloudNixosServer hands `configuration` to its install chain, and reports its errors under its own path", () => {
    const configuration = HostConfiguration.fromFlake({ dir: flakeDir(FLAKE) });
    const { all } = synthServer({ configuration });
    expect(all("terraform_data").find((r) => r.triggers_replace.phase === "probe").triggers_replace.configuration).toBe(`sha256:${configuration.contentHash}`);
    expect(() => synthServer({ configuration: HostConfiguration.fromFlake({ dir: path.join(tmp, "nope") }) })).toThrow(/\[test\/web\/install\] `configuration\.dir` must be an existing directory/);
  });

  test("hosts sharing one flake directory in a stack share one asset", () => {
    const dir = flakeDir(FLAKE);
    const app = new App({ outdir: path.join(tmp, "cdktf.out"), stackTraces: false });
    const stack = new TerraformStack(app, "fleet");
    const configuration = HostConfiguration.fromFlake({ dir });
    new NixosInstall(stack, "a", installProps({ configuration, hostName: "web-1" }));
    new NixosInstall(stack, "b", installProps({ configuration: HostConfiguration.fromFlake({ dir }), hostName: "web-2", host: "203.0.113.11" }));
    const config = JSON.parse(Testing.synth(stack, true));
    const locals = Object.values(config.locals as Record<string, Record<string, string>>);
    expect(locals.map((l) => l.NI_FLAKE_ATTRIBUTE)).toEqual(["web-1", "web-2"]);
    expect(new Set(locals.map((l) => l.NI_FLAKE)).size).toBe(1);
    expect(stack.node.findAll().filter((c) => c.node.id.startsWith("nixos-install-host-flake-"))).toHaveLength(1);
  });

  test("a fleet of hosts with flakes of their own stages each once and adds one exit hook at most", () => {
    const app = new App({ outdir: path.join(tmp, "cdktf.out"), stackTraces: false });
    const stack = new TerraformStack(app, "fleet");
    const hooks = process.listenerCount("exit");
    for (let i = 0; i < 15; i++) {
      const dir = flakeDir({ ...FLAKE, "hosts/common.nix": `{ } # ${i % 3}\n` }, path.join(tmp, `flake-${i}`));
      new NixosInstall(stack, `h${i}`, installProps({ configuration: HostConfiguration.fromFlake({ dir }), hostName: `web-${i}`, host: `203.0.113.${i + 1}` }));
    }
    expect(process.listenerCount("exit") - hooks).toBeLessThanOrEqual(1);
    expect(stack.node.findAll().filter((c) => c.node.id.startsWith("nixos-install-host-flake-"))).toHaveLength(3);
  });
});

describe("examples/existing-host", () => {
  const env = { HOST: "203.0.113.10", HOST_KEY: BASE_KEY, AUTHORIZED_KEY: USER_KEY, BUNDLE_URL: URL_BUNDLE.url, BUNDLE_SHA256: URL_BUNDLE.sha256, HOST_NAME: "web-1" };

  test("installs HOST_FLAKE_DIR when it is set, the template when not", () => {
    const dir = flakeDir(FLAKE);
    const configuration = settingsFromEnv({ ...env, HOST_FLAKE_DIR: dir }).configuration!;
    expect(configuration).toMatchObject({ kind: "flake", dir, contentHash: hashOf(dir) });
    expect(settingsFromEnv(env).configuration).toBeUndefined();
  });
});

describe("HostConfiguration.fromFlake: bad input fails at synth, naming the prop, the rule and the value", () => {
  const failsWith = (configuration: HostConfiguration, message: RegExp, outdir?: string) => expect(() => synth(configuration, outdir)).toThrow(message);

  test("a directory that does not exist", () => {
    failsWith(HostConfiguration.fromFlake({ dir: path.join(tmp, "nope") }), /`configuration\.dir` must be an existing directory \(relative to where cdktf synth runs: .*\); create the flake there or correct the path, got: `.*\/nope`/);
  });

  test("no flake.nix, or one git does not track", () => {
    failsWith(HostConfiguration.fromFlake({ dir: flakeDir({ "hosts/common.nix": "{ }" }) }), /`configuration\.dir` must hold a flake\.nix, got: `.*\/infra`/);
    const repo = flakeDir(FLAKE, path.join(tmp, "repo"));
    git(repo, "init", "-q");
    git(repo, "add", "hosts");
    failsWith(HostConfiguration.fromFlake({ dir: repo }), /`configuration\.dir` must hold a flake\.nix that git tracks \(Nix sees only tracked files: git add flake\.nix\), got: `.*\/repo`/);
  });

  test("a directory that holds the synth output, outside git; inside git only when git tracks it", () => {
    const dir = flakeDir(FLAKE);
    const outdir = path.join(dir, "cdktf.out");
    failsWith(HostConfiguration.fromFlake({ dir }), /`configuration\.dir` must not hold the synth output directory .*cdktf\.out: outside a git work tree every file of dir is sent; put the flake in a directory of its own, or make the repository a git work tree that does not track cdktf\.out, got: `/, outdir);
    git(dir, "init", "-q");
    git(dir, "add", ".");
    const config = synth(HostConfiguration.fromFlake({ dir }), outdir).config;
    expect(settingsOf(config).NI_FLAKE).toMatch(/^assets\//);
    git(dir, "add", "cdktf.out");
    failsWith(HostConfiguration.fromFlake({ dir }), /`configuration\.dir` must not hold the synth output directory .*cdktf\.out as files git tracks \(Nix would see them\): git tracks cdktf\.out\/\S+; untrack it \(git rm -r --cached cdktf\.out\) and list it in \.gitignore/, outdir);
  });

  test("a directory inside the synth output", () => {
    const outdir = path.join(tmp, "cdktf.out");
    failsWith(HostConfiguration.fromFlake({ dir: flakeDir(FLAKE, path.join(outdir, "flake")) }), /`configuration\.dir` must lie outside the synth output directory .*cdktf\.out \(every synth rewrites it\)/, outdir);
  });

  test("a symbolic link other than result*", () => {
    const dir = flakeDir(FLAKE);
    fs.symlinkSync("hosts/common.nix", path.join(dir, "common.nix"));
    failsWith(HostConfiguration.fromFlake({ dir }), /`configuration\.dir` must hold no symbolic link but result\* \(the installer gets files only\): replace common\.nix by the file it points to, or remove it/);
  });

  test("a bad attribute or runtimeInfoPath, all reported at once", () => {
    const dir = flakeDir(FLAKE);
    failsWith(
      HostConfiguration.fromFlake({ dir, attribute: "web 1; rm -rf /", runtimeInfoPath: "../hosts/{hostName}/runtime-info.json" }),
      /`configuration\.attribute` must be a Nix attribute name .*, got: `web 1; rm -rf \/`[\s\S]*`configuration\.runtimeInfoPath` must be a path relative to `dir` .*, got: `\.\.\/hosts\/\{hostName\}\/runtime-info\.json`/,
    );
  });

  test("contentHash read directly throws with the same words", () => {
    expect(() => HostConfiguration.fromFlake({ dir: path.join(tmp, "nope") }).contentHash).toThrow(/^HostConfiguration\.fromFlake: `dir` must be an existing directory/);
    expect(HostConfiguration.template().contentHash).toBeUndefined();
  });
});

describe("buildOn: \"deployer\" with a user's flake", () => {
  const synthWith = (buildOn: string | undefined) => {
    const dir = flakeDir(FLAKE);
    const app = new App({ outdir: path.join(tmp, "cdktf.out"), stackTraces: false });
    const stack = new TerraformStack(app, "test");
    new NixosInstall(stack, "host", installProps({ configuration: HostConfiguration.fromFlake({ dir }), buildOn }));
    return JSON.parse(Testing.synth(stack, true));
  };

  test("reaches the phase scripts as NI_BUILD_ON", () => {
    expect(settingsOf(synthWith("deployer")).NI_BUILD_ON).toBe("deployer");
    expect(settingsOf(synthWith(undefined)).NI_BUILD_ON).toBe("target");
  });

  test("is not part of the install's identity: moving the build changes no trigger, so it reinstalls nothing", () => {
    expect(probeOf(synthWith("deployer")).triggers_replace).toEqual(probeOf(synthWith("target")).triggers_replace);
  });
});
