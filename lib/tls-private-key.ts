import { TerraformResource } from "cdktf";
import { Construct } from "constructs";

/** What `TlsPrivateKey` takes: the one argument this package sets. */
export interface TlsPrivateKeyConfig {
  /** `ED25519`, `RSA` or `ECDSA`. */
  readonly algorithm: string;
}

/**
 * hashicorp/tls `tls_private_key`, reduced to what HcloudNixosServer uses: the
 * throwaway host key of a base image. Written here rather than taken from
 * @cdktf/provider-tls: that package requires cdktf itself, so a cdktn project would get
 * a second core (docs/decisions/library-packaging.md).
 * `__tests__/lib/own-bindings.test.ts` proves it writes what the prebuilt binding writes.
 */
export class TlsPrivateKey extends TerraformResource {
  static readonly tfResourceType = "tls_private_key";

  private readonly algorithm: string;
  /** One token an attribute, however often it is read (each getStringAttribute call makes a new one). */
  private readonly references = new Map<string, string>();

  constructor(scope: Construct, id: string, config: TlsPrivateKeyConfig) {
    super(scope, id, {
      terraformResourceType: TlsPrivateKey.tfResourceType,
      terraformGeneratorMetadata: { providerName: "tls", providerVersion: TLS_PROVIDER_VERSION },
    });
    this.algorithm = config.algorithm;
  }

  /** The public key in OpenSSH `authorized_keys` form (`ssh-ed25519 AAAA…` and a newline). */
  public get publicKeyOpenssh(): string {
    return this.reference("public_key_openssh");
  }

  /** The private key in OpenSSH PEM form (sensitive: it is in the state). */
  public get privateKeyOpenssh(): string {
    return this.reference("private_key_openssh");
  }

  /** `SHA256:…`, the fingerprint `ssh-keygen -l` prints for the public key. */
  public get publicKeyFingerprintSha256(): string {
    return this.reference("public_key_fingerprint_sha256");
  }

  private reference(attribute: string): string {
    let token = this.references.get(attribute);
    if (token === undefined) this.references.set(attribute, (token = this.getStringAttribute(attribute)));
    return token;
  }

  protected synthesizeAttributes(): Record<string, unknown> {
    return { algorithm: this.algorithm };
  }

  protected synthesizeHclAttributes(): Record<string, unknown> {
    return { algorithm: { value: this.algorithm, isBlock: false, type: "simple", storageClassType: "string" } };
  }
}

/** The hashicorp/tls version this package writes into `required_providers`. */
export const TLS_PROVIDER_VERSION = "4.1.0";
