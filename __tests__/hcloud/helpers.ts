/** Shared fixtures for the hcloud suites (not a test file: jest only runs *.test.ts). */
import * as path from "path";
import { App, DefaultTokenResolver, StringConcat, TerraformStack, Testing, Tokenization } from "cdktf";
import { HcloudNixosServer, HcloudNixosServerProps } from "../../lib/hcloud-nixos-server";
import { KexecBundle } from "../../lib/kexec-bundle";
import { PassphraseSource } from "../../lib/passphrase-source";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0b3RoZXJrZXlzYXJlYmV0dGVydGhhbnRoaXNvbmVwbA admin@example";
export const OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNlY29uZGtleWZvcnRlc3Rpbmdvbmx5bm90cmVhbGx5 ops@example";

/** An app whose outdir lies in the repo, so relative paths in the output do not depend on the machine. */
export function testApp(): App {
  return Testing.app({ outdir: path.join(REPO_ROOT, "cdktf.out") });
}

export function baseProps(overrides: Partial<HcloudNixosServerProps> = {}): HcloudNixosServerProps {
  return {
    hostName: "web-1",
    serverType: "cx23",
    location: "fsn1",
    sshPublicKey: ADMIN_KEY,
    passphrase: PassphraseSource.fromEnv("DISK_PASSPHRASE"),
    bundle: KexecBundle.fromUrl({ url: "https://example.org/kexec-x86_64.tar.gz", sha256: "a".repeat(64), system: "x86_64-linux" }),
    ...overrides,
  };
}

export interface Synthesized {
  host: HcloudNixosServer;
  stack: TerraformStack;
  doc: any;
  /** The one resource of that type (fails when there are several or none). */
  one(type: string): any;
  all(type: string): any[];
}

/** Synthesizes one HcloudNixosServer (plus whatever `before` adds to the stack first), with the checks `cdktf synth` runs. */
export function synthServer(overrides: Partial<HcloudNixosServerProps> = {}, before?: (stack: TerraformStack) => void): Synthesized {
  const stack = new TerraformStack(testApp(), "test");
  before?.(stack);
  const host = new HcloudNixosServer(stack, "web", baseProps(overrides));
  const doc = JSON.parse(Testing.synth(stack, true));
  const all = (type: string) => Object.values(doc.resource?.[type] ?? {});
  const one = (type: string) => {
    const found = all(type);
    if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
    return found[0];
  };
  return { host, stack, doc, one, all };
}

/** `${type.name.attr}` reference to the one resource of a type in a synthesized doc. */
export function ref(doc: any, type: string, attr: string): string {
  const names = Object.keys(doc.resource[type]);
  if (names.length !== 1) throw new Error(`expected one ${type}, found ${names.length}`);
  return `\${${type}.${names[0]}.${attr}}`;
}

/** Replaces content hashes of assets (they change with every edit of the scripts). */
export function normalize(text: string): string {
  return text.replace(/(assets\/[^/"]+\/)[0-9A-F]{32}/g, "$1<hash>").split(REPO_ROOT).join("<repo>");
}

/** Resolves tokens in a value the way synth writes them (`${hcloud_server.x.id}`). */
export function resolve(stack: TerraformStack, value: unknown): any {
  return Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
}

/** The `data "hcloud_server_type"` an `hcloud_server` takes its type from (it refers to the data source's name). */
export function serverTypeRead(doc: any, server: { server_type: string }): { name: string; lifecycle: { postcondition: { condition: string; error_message: string }[] } } {
  const id = /^\$\{data\.hcloud_server_type\.([^.]+)\.name\}$/.exec(server.server_type)?.[1];
  if (id === undefined) throw new Error(`the server takes its type from no data source: ${server.server_type}`);
  return doc.data.hcloud_server_type[id];
}
