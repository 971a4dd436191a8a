/**
 * Generates the typed hcloud provider bindings under .gen/providers/hcloud from the
 * real provider schema (`terraform providers schema -json` of hetznercloud/hcloud),
 * offline, with the same generator `cdktf get` uses for TypeScript. The output is
 * committed; `npx cdktf get` with network access reproduces it from cdktf.json.
 *
 * Usage: npm run gen:hcloud [-- SCHEMA_JSON]
 *   SCHEMA_JSON defaults to ../shared/providers/hetznercloud-hcloud-1.59.0.schema.json
 *   (resolved from the repo root) or $HCLOUD_PROVIDER_SCHEMA.
 */
import * as fs from "fs";
import * as path from "path";
import { CodeMaker } from "codemaker";
import {
  ConstructsMakerTarget,
  DISPLAY_VERSION,
  Language,
  TerraformProviderConstraint,
} from "@cdktf/commons";
import { TerraformProviderGenerator } from "@cdktf/provider-generator";

const repoRoot = path.resolve(__dirname, "..");
/** Must match `terraformProviders` in cdktf.json. */
const CONSTRAINT = "hetznercloud/hcloud@~> 1.59";
/** The provider version the schema file was dumped from. */
const SCHEMA_VERSION = "1.59.0";
const FQPN = "registry.terraform.io/hetznercloud/hcloud";

function abort(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

function schemaPath(): string {
  const given = process.argv[2] ?? process.env.HCLOUD_PROVIDER_SCHEMA;
  if (given) return path.resolve(given);
  return path.resolve(repoRoot, "..", "shared", "providers", `hetznercloud-hcloud-${SCHEMA_VERSION}.schema.json`);
}

function checkConstraintMatchesCdktfJson(): void {
  const cdktfJson = JSON.parse(fs.readFileSync(path.join(repoRoot, "cdktf.json"), "utf8"));
  const listed: string[] = cdktfJson.terraformProviders ?? [];
  if (!listed.includes(CONSTRAINT)) {
    abort(`cdktf.json terraformProviders must list "${CONSTRAINT}" (found ${JSON.stringify(listed)}); keep the two in step`);
  }
}

async function main(): Promise<void> {
  checkConstraintMatchesCdktfJson();
  const file = schemaPath();
  if (!fs.existsSync(file)) {
    abort(`provider schema not found at ${file}; pass its path, or run \`npx cdktf get\` with network access`);
  }
  const schema = JSON.parse(fs.readFileSync(file, "utf8"));
  if (!schema.provider_schemas?.[FQPN]) {
    abort(`${file} holds no schema for ${FQPN}`);
  }
  // `terraform providers schema -json` does not carry versions; cdktf get reads them
  // from the lock file. Record the version the schema was dumped from.
  schema.provider_versions = { ...(schema.provider_versions ?? {}), [FQPN]: SCHEMA_VERSION };

  const outdir = path.join(repoRoot, ".gen");
  const constraint = new TerraformProviderConstraint(CONSTRAINT);
  const target = ConstructsMakerTarget.from(constraint, Language.TYPESCRIPT);

  const code = new CodeMaker();
  const generator = new TerraformProviderGenerator(code, schema);
  generator.generate(target as never);
  // The same bookkeeping files cdktf get writes, so `cdktf get` sees the bindings as current.
  code.openFile("versions.json");
  code.line(JSON.stringify(generator.versions, null, 2));
  code.closeFile("versions.json");
  code.openFile("constraints.json");
  code.line(JSON.stringify({ cdktf: DISPLAY_VERSION, providers: { [constraint.fqn]: constraint.version } }, null, 2));
  code.closeFile("constraints.json");

  fs.rmSync(path.join(outdir, "providers", constraint.name), { recursive: true, force: true });
  await code.save(outdir);
  process.stdout.write(`generated ${path.relative(repoRoot, path.join(outdir, "providers", constraint.name))} from ${file}\n`);
}

main().catch((err) => abort(err instanceof Error ? err.stack ?? err.message : String(err)));
