// Edge-case input as a user writes it (issue 10, items 7-11), as rows of
// docs/RELIABILITY.md: what was tried, what the user saw, what was lost. The rules
// themselves are tested case by case in __tests__/lib/synth-input.test.ts; here each item
// is tried once the way it went wrong for the reviewer: a real `terraform apply` where
// the damage showed on a host (item 8), `cdktf synth` (all errors at once, with construct
// paths) where it must stop before Terraform.
import * as fs from "fs";
import * as path from "path";
import { TerraformStack, Testing } from "cdktf";
import { NixosInstall, NixosInstallProps, PassphraseSource } from "../../lib";
import { canary, must, noLeftovers, quote, TIMEOUTS, verified } from "../../lab/faults/checks";
import { fleetSuite, hostSeconds, scenario } from "../../lab/faults/scenario";
import { ROOT } from "../../lab/lab";
import { installProps } from "../support/install-props";
import { USER_KEY } from "../support/keys";

const WORK = path.join(ROOT, ".lab", "faults");
const TEST_TIMEOUT = 420_000;
const { pool, fleetOf } = fleetSuite(1);

// ---- item 8: a host key pasted from a .pub file ------------------------------------

const pubRun = pool.add(async () => {
  const passphrase = canary();
  const name = "pub-key";
  const f = await fleetOf({ work: path.join(WORK, "pub-key"), passphrase, hosts: [{ name, address: "127.0.9.201" }], timeouts: TIMEOUTS });
  try {
    // What `fs.readFileSync("…/ssh_host_ed25519_key.pub", "utf8")` gives: comment and newline.
    const pub = fs.readFileSync(path.join(f.hosts[name].dir, "keys", "base_host_ed25519_key.pub"), "utf8");
    f.resynth((m) => ({ ...m, hostKey: pub }));
    const apply = await f.apply({ timeoutMs: 300_000 });
    const pin = fs.readFileSync(path.join(f.hostsDir, name, "pins", "base"), "utf8");
    return { f, passphrase, name, pub, apply, pin };
  } finally {
    await f.close();
  }
});

scenario(
  {
    id: "S8",
    title: "issue 10 item 8: hostKey read from the host's .pub file (with its comment and trailing newline)",
    expected: "the key is normalized to `type base64` once, for the check and for the pin; the genuine host is recognized and verifies",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await pubRun;
    must(r.pub.endsWith("\n") && r.pub.trim().split(" ").length === 3, `the .pub text should carry a comment and a newline, is ${JSON.stringify(r.pub)}`);
    must(r.apply.code === 0 && verified(r.apply, r.name), "the apply should install and verify the host", r.apply, r.name);
    must(!/man in the middle/.test(r.apply.output), "the genuine host must not be called a man in the middle", r.apply, r.name);
    const want = r.pub.trim().split(" ").slice(0, 2).join(" ");
    must(r.pin === `${want}\n`, `the pin should be one line, \`type base64\`, is ${JSON.stringify(r.pin)}`);
    noLeftovers(r.f, r.passphrase);
    return { happened: `the pin is one line (${quote(want.slice(0, 30))}…); the host was recognized and verified; no MITM alarm`, seconds: hostSeconds(r.name, r.apply.output) };
  },
);

// ---- items 7, 9, 10, 11: refused by `cdktf synth`, every problem at once -------------

/** The `[path] message` lines `cdktf synth` prints for a stack, or [] when it synthesizes; and what it wrote. */
function synthOf(build: (stack: TerraformStack) => void): { errors: string[]; files: string[] } {
  const app = Testing.app();
  const stack = new TerraformStack(app, "s");
  build(stack);
  try {
    Testing.synth(stack, true);
    return { errors: [], files: ["cdk.tf.json"] };
  } catch (error) {
    return { errors: (error as Error).message.split("\n").filter((l) => l.startsWith("  [")).map((l) => l.trim()), files: [] };
  }
}

const install = (stack: TerraformStack, id: string, overrides: Partial<NixosInstallProps>) => new NixosInstall(stack, id, installProps(overrides));

const refusals: { id: string; item: string; title: string; build: (s: TerraformStack) => void; expect: RegExp[] }[] = [
  {
    id: "S7",
    item: "7",
    title: "two hosts with the same hostName in one stack",
    build: (s) => {
      install(s, "a", { hostName: "web-1" });
      install(s, "b", { hostName: "web-1" });
    },
    expect: [/^\[s\/b\] `hostName` must be unique.*s\/a installs it too.*got: `web-1`/],
  },
  {
    id: "S9",
    item: "9",
    title: "host given as address:port, as an option, as dots, as 5000 characters",
    build: (s) => {
      install(s, "port-in-host", { host: "127.0.0.77:11122", hostName: "h1" });
      install(s, "option", { host: "-oProxyCommand=x", hostName: "h2" });
      install(s, "dots", { host: "...", hostName: "h3" });
      install(s, "long", { host: "a".repeat(5000), hostName: "h4" });
    },
    expect: [/^\[s\/port-in-host\] .*host/, /^\[s\/option\] .*host/, /^\[s\/dots\] .*host/, /^\[s\/long\] .*host/],
  },
  {
    id: "S10",
    item: "10",
    title: "a Terraform template (`%{`) in a key comment, CR in a host name, NUL in a path",
    build: (s) => {
      install(s, "template", { authorizedKeys: [`${USER_KEY.split(" ").slice(0, 2).join(" ")} 100%{if true}X%{endif}`], hostName: "t1" });
      install(s, "cr", { hostName: "t2\r" });
      install(s, "nul", { hostName: "t3", hostsDir: "hosts\0x" });
    },
    expect: [/^\[s\/template\] .*authorizedKeys\[0\]/, /^\[s\/cr\] .*hostName/, /^\[s\/nul\] .*hostsDir/],
  },
  {
    id: "S11",
    item: "11",
    title: "PassphraseSource.fromEnv of a variable the shell or the chain sets (PATH, HOME, NI_HOST)",
    build: (s) => {
      install(s, "path", { passphrase: PassphraseSource.fromEnv("PATH"), hostName: "p1" });
      install(s, "home", { passphrase: PassphraseSource.fromEnv("HOME"), hostName: "p2" });
      install(s, "chain", { passphrase: PassphraseSource.fromEnv("NI_HOST"), hostName: "p3" });
    },
    expect: [/^\[s\/path\] .*PATH/, /^\[s\/home\] .*HOME/, /^\[s\/chain\] .*NI_HOST/],
  },
];

for (const c of refusals) {
  scenario(
    {
      id: c.id,
      title: `issue 10 item ${c.item}: ${c.title}`,
      expected: "`cdktf synth` refuses, one line per problem with its construct path, the prop, the rule and the value; nothing is written for Terraform",
      timeoutMs: 60_000,
      file: __filename,
    },
    async () => {
      const r = synthOf(c.build);
      must(r.files.length === 0, `synth should refuse, but it wrote ${r.files.join(", ")}`);
      for (const re of c.expect) must(r.errors.some((l) => re.test(l)), `expected an error matching ${re}, got:\n${r.errors.join("\n")}`);
      must(r.errors.length === c.expect.length, `expected ${c.expect.length} error(s), one per problem, got:\n${r.errors.join("\n")}`);
      return { happened: `synth refused with ${r.errors.length} error(s) at once: ${r.errors.map((l) => quote(l.length > 160 ? `${l.slice(0, 160)}…` : l)).join("; ")}; nothing written` };
    },
  );
}
