import { Construct } from "constructs";
import { PhaseResource } from "./phase-resource";

/**
 * A `null_resource` holding `triggers`, for Terraform older than 1.4. Written here
 * rather than taken from @cdktf/provider-null: that package requires cdktf itself, so
 * a cdktn project would get a second core (docs/decisions/library-packaging.md).
 * No provider block is needed: Terraform finds hashicorp/null from the type's prefix.
 * `__tests__/lib/own-bindings.test.ts` proves it writes what the prebuilt binding writes.
 */
export class NullResourcePhase extends PhaseResource {
  static readonly tfResourceType = "null_resource";

  constructor(scope: Construct, id: string, triggers: Record<string, string>) {
    // No generator metadata: with it, cdktf's synth check demands a provider construct,
    // which Terraform itself does not need here.
    super(scope, id, { terraformResourceType: NullResourcePhase.tfResourceType }, "triggers", triggers);
  }
}
