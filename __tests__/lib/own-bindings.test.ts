// The three Terraform types this package writes with its own small classes instead of
// the prebuilt @cdktf/provider-tls and @cdktf/provider-null (those require cdktf itself,
// which a cdktn project does not have): each writes what the prebuilt binding writes.
import { TerraformStack, Testing } from "cdktf";
import { Resource } from "@cdktf/provider-null/lib/resource";
import { PrivateKey } from "@cdktf/provider-tls/lib/private-key";
import { TlsProvider as PrebuiltTlsProvider } from "@cdktf/provider-tls/lib/provider";
import { NullResourcePhase, TlsPrivateKey, TlsProvider } from "../../lib";
import { resolve } from "../hcloud/helpers";

function synthBoth(build: (stack: TerraformStack, own: boolean) => void): [any, any] {
  const out = [true, false].map((own) => {
    const stack = new TerraformStack(Testing.app(), "s");
    build(stack, own);
    return JSON.parse(Testing.synth(stack));
  });
  return [out[0], out[1]];
}

describe("own bindings write what the prebuilt bindings write", () => {
  test("tls_private_key (ED25519) and the tls provider block, with the same version pin", () => {
    const [own, prebuilt] = synthBoth((stack, ownBinding) => {
      if (ownBinding) {
        new TlsProvider(stack, "tls");
        new TlsPrivateKey(stack, "key", { algorithm: "ED25519" });
      } else {
        new PrebuiltTlsProvider(stack, "tls", {});
        new PrivateKey(stack, "key", { algorithm: "ED25519" });
      }
    });
    expect(own).toEqual(prebuilt);
    expect(own.terraform.required_providers.tls).toEqual({ source: "hashicorp/tls", version: "4.1.0" });
  });

  test("the attributes read from tls_private_key are the prebuilt binding's references", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const own = new TlsPrivateKey(stack, "own", { algorithm: "ED25519" });
    const prebuilt = new PrivateKey(stack, "prebuilt", { algorithm: "ED25519" });
    const refs = (k: { publicKeyOpenssh: string; privateKeyOpenssh: string; publicKeyFingerprintSha256: string }) =>
      [k.publicKeyOpenssh, k.privateKeyOpenssh, k.publicKeyFingerprintSha256].map((t) => (resolve(stack, t) as string).replace(/\.(own|prebuilt)\./, ".X."));
    expect(refs(own)).toEqual(refs(prebuilt));
  });

  test("null_resource with triggers", () => {
    const triggers = { phase: "probe", host: "203.0.113.10" };
    const [own, prebuilt] = synthBoth((stack, ownBinding) => {
      if (ownBinding) new NullResourcePhase(stack, "probe", triggers);
      else new Resource(stack, "probe", { triggers });
    });
    expect(own.resource).toEqual(prebuilt.resource);
    // No provider block: Terraform finds hashicorp/null from the type's prefix.
    expect(own.provider).toBeUndefined();
  });
});
