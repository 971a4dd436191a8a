import { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { TLS_PROVIDER_VERSION } from "./tls-private-key";

/**
 * The hashicorp/tls provider block (no arguments), pinned like the prebuilt binding
 * pins it. See TlsPrivateKey for why this package writes its own.
 */
export class TlsProvider extends TerraformProvider {
  static readonly tfResourceType = "tls";

  constructor(scope: Construct, id: string) {
    super(scope, id, {
      terraformResourceType: TlsProvider.tfResourceType,
      terraformGeneratorMetadata: { providerName: "tls", providerVersion: TLS_PROVIDER_VERSION },
      terraformProviderSource: "hashicorp/tls",
    });
  }

  protected synthesizeAttributes(): Record<string, unknown> {
    return {};
  }

  protected synthesizeHclAttributes(): Record<string, unknown> {
    return {};
  }
}
