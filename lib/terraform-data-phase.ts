import { Construct } from "constructs";
import { PhaseResource } from "./phase-resource";

/**
 * A `terraform_data` resource (built into Terraform ≥ 1.4) holding `triggers_replace`.
 *
 * cdktf's own `DataResource` registers a check that runs `terraform version` at synth,
 * once for every resource: five times a host, most of the synth time of a large
 * fleet. Terraform older than 1.4 refuses the resource type at plan anyway, with its
 * own clear message, so this class leaves the check out.
 */
export class TerraformDataPhase extends PhaseResource {
  static readonly tfResourceType = "terraform_data";

  constructor(scope: Construct, id: string, triggers: Record<string, string>) {
    super(scope, id, { terraformResourceType: TerraformDataPhase.tfResourceType, terraformGeneratorMetadata: { providerName: "terraform" } }, "triggers_replace", triggers);
  }
}
