// What NixosInstall and HcloudNixosServer offer a stack after the install: the host's
// address, its record directory, host key fingerprints, the verified phase to depend
// on, and each phase's Terraform address (for -replace and -target).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DataResource, TerraformOutput, TerraformStack, Testing } from "cdktf";
import { NixosInstall, NixosInstallProps, PHASES } from "../../lib";
import { resolve, synthServer } from "../hcloud/helpers";
import { installProps } from "../support/install-props";
import { synthInProject, terraformValidate } from "../support/synth-project";

const props = installProps;

function install(overrides: Partial<NixosInstallProps> = {}): { stack: TerraformStack; install: NixosInstall; doc: any } {
  const stack = new TerraformStack(Testing.app(), "s");
  const i = new NixosInstall(stack, "web-1", props(overrides));
  return { stack, install: i, doc: JSON.parse(Testing.synth(stack, true)) };
}

describe("NixosInstall outputs", () => {
  test("phaseAddresses are the addresses of the synthesized phase resources, as terraform -replace takes them", () => {
    const { install: i, doc } = install();
    const byPhase = Object.fromEntries(Object.entries<any>(doc.resource.terraform_data).map(([id, r]) => [r.triggers_replace.phase, `terraform_data.${id}`]));
    expect(i.phaseAddresses).toEqual(byPhase);
    expect(Object.keys(i.phaseAddresses)).toEqual([...PHASES]);
    const nulls = install({ resourceType: "null_resource" });
    expect(Object.values(nulls.install.phaseAddresses).every((a) => a.startsWith("null_resource."))).toBe(true);
    expect(Object.keys(nulls.doc.resource.null_resource).map((id) => `null_resource.${id}`).sort()).toEqual(Object.values(nulls.install.phaseAddresses).sort());
  });

  test("verified is the verify phase, and its id is a reference that orders what depends on it", () => {
    const { stack, install: i } = install();
    const id: string = i.verified.id;
    expect(resolve(stack, id)).toBe(`\${${i.phaseAddresses.verify}.id}`);
    expect(i.phases.verify).toBe(i.verified);
  });

  test("hostRecordDir is hosts/NAME relative to where synth runs (absolute when hostsDir is)", () => {
    expect(install().install.hostRecordDir).toBe("hosts/web-1");
    expect(install({ hostsDir: "./infra/hosts/" }).install.hostRecordDir).toBe("infra/hosts/web-1");
    expect(install({ hostsDir: "/srv/fleet/hosts" }).install.hostRecordDir).toBe("/srv/fleet/hosts/web-1");
  });

  test("address is the host the chain connects to", () => {
    expect(install({ host: "2001:db8::10" }).install.address).toBe("2001:db8::10");
  });

  test("baseHostKeyFingerprint is what ssh-keygen -l prints for the pinned key; none on trust on first use", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ni-fp-"));
    try {
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "root@web-1", "-f", path.join(dir, "key")]);
      const pub = fs.readFileSync(path.join(dir, "key.pub"), "utf8");
      const expected = execFileSync("ssh-keygen", ["-l", "-f", path.join(dir, "key.pub")], { encoding: "utf8" }).split(" ")[1];
      expect(install({ hostKey: pub }).install.baseHostKeyFingerprint).toBe(expected);
      expect(install({ hostKey: undefined, trustOnFirstUse: true }).install.baseHostKeyFingerprint).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("installedHostKey reads hosts/NAME/ssh_host_ed25519_key.pub only after the verify phase (a reference to its id)", () => {
    const { stack, install: i } = install();
    const expr = resolve(stack, i.installedHostKey) as string;
    expect(expr).toContain(`${i.phaseAddresses.verify}.id`);
    expect(expr).toMatch(/try\(trimspace\(file\("[^"]*hosts\/web-1\/ssh_host_ed25519_key\.pub"\)\), ""\)/);
  });
});

describe("depending on the verified host", () => {
  test("the documented forms (a resource's dependsOn, an output's depends_on override, an output of installedHostKey) pass terraform init and validate", () => {
    const synthesized = synthInProject((stack) => {
      const web = new NixosInstall(stack, "web-1", props());
      const out = new TerraformOutput(stack, "web-1-address", { value: web.address });
      out.addOverride("depends_on", [web.phaseAddresses.verify]);
      new TerraformOutput(stack, "web-1-host-key", { value: web.installedHostKey });
      new DataResource(stack, "after-web-1", { input: { needs: "the installed host" }, dependsOn: [web.verified] });
    });
    try {
      expect(terraformValidate(synthesized.stackDir)).toMatchObject({ valid: true, warning_count: 0 });
    } finally {
      synthesized.remove();
    }
  });
});

describe("HcloudNixosServer outputs", () => {
  test("the base host key's fingerprint comes from the tls_private_key, the address from the server", () => {
    const { host, stack, doc } = synthServer();
    const [keyId] = Object.keys(doc.resource.tls_private_key);
    const [serverId] = Object.keys(doc.resource.hcloud_server);
    expect(resolve(stack, host.baseHostKeyFingerprint)).toBe(`\${tls_private_key.${keyId}.public_key_fingerprint_sha256}`);
    expect(resolve(stack, host.address)).toBe(`\${hcloud_server.${serverId}.ipv4_address}`);
    expect(host.install.address).toBe(host.address);
  });
});
