import { TerraformDataSource, TerraformResource } from "cdktf";

/**
 * cdktf's HCL output (`cdktf synth --hcl`) writes `lifecycle { precondition = [ … ] }`
 * (and `postcondition = [ … ]`), arguments Terraform refuses ("Did you mean to define a
 * block of type precondition?"); mark the lifecycle so the HCL renderer writes one
 * `precondition { … }` or `postcondition { … }` block each. The JSON form is untouched.
 */
export function writeConditionsAsBlocksInHcl(element: TerraformResource | TerraformDataSource): void {
  const toHcl = element.toHclTerraform.bind(element);
  element.toHclTerraform = () => {
    const out = toHcl();
    const attrs = (element instanceof TerraformDataSource ? out.data : out.resource)?.[element.terraformResourceType]?.[element.friendlyUniqueId];
    const lifecycle = attrs?.lifecycle;
    if (!lifecycle?.precondition && !lifecycle?.postcondition) return out;
    const { precondition, postcondition, ...rest } = lifecycle;
    const blocks = (value: unknown) => ({ isBlock: true, type: "list", storageClassType: "object", value });
    attrs.lifecycle = {
      isBlock: true,
      type: "simple",
      value: { ...rest, ...(precondition ? { precondition: blocks(precondition) } : {}), ...(postcondition ? { postcondition: blocks(postcondition) } : {}) },
    };
    return out;
  };
}
