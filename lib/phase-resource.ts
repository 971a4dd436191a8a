import { TerraformResource, TerraformResourceConfig } from "cdktf";
import { Construct } from "constructs";

/**
 * One phase of the install chain as a Terraform resource (`terraform_data` or
 * `null_resource`) that holds the phase's triggers: its id orders the next phase, its
 * address names it for `terraform apply -replace=…` and `-target=…`.
 */
export abstract class PhaseResource extends TerraformResource {
  protected constructor(
    scope: Construct,
    id: string,
    config: TerraformResourceConfig,
    /** The map attribute whose change replaces the resource (`triggers_replace`, `triggers`). */
    private readonly triggersAttribute: string,
    private readonly triggers: Record<string, string>,
  ) {
    super(scope, id, config);
  }

  private idToken?: string;

  /** The resource's id, known after the phase ran. */
  public get id(): string {
    // One token however often it is read (getStringAttribute makes a new one each call).
    this.idToken ??= this.getStringAttribute("id");
    return this.idToken;
  }

  /** The resource's Terraform address, e.g. `terraform_data.web-1_probe_3A1B2C3D`. */
  public get address(): string {
    return `${this.terraformResourceType}.${this.friendlyUniqueId}`;
  }

  protected synthesizeAttributes(): Record<string, unknown> {
    return { [this.triggersAttribute]: this.triggers };
  }

  protected synthesizeHclAttributes(): Record<string, unknown> {
    return { [this.triggersAttribute]: { value: this.triggers, isBlock: false, type: "map", storageClassType: "stringMap" } };
  }
}
