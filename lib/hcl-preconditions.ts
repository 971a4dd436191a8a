import { TerraformResource } from "cdktf";

/**
 * cdktf's HCL output (`cdktf synth --hcl`) writes `lifecycle { precondition = [ … ] }`,
 * an argument Terraform refuses ("Did you mean to define a block of type
 * precondition?"); mark the lifecycle so the HCL renderer writes one `precondition { … }`
 * block each. The JSON form is untouched.
 */
export function writePreconditionsAsBlocksInHcl(resource: TerraformResource): void {
  const toHcl = resource.toHclTerraform.bind(resource);
  resource.toHclTerraform = () => {
    const out = toHcl();
    const attrs = out.resource?.[resource.terraformResourceType]?.[resource.friendlyUniqueId];
    const lifecycle = attrs?.lifecycle;
    if (!lifecycle?.precondition) return out;
    const { precondition, ...rest } = lifecycle;
    attrs.lifecycle = {
      isBlock: true,
      type: "simple",
      value: { ...rest, precondition: { isBlock: true, type: "list", storageClassType: "object", value: precondition } },
    };
    return out;
  };
}
