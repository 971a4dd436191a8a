/**
 * Schema conformance for synthesized hcloud resources: walks every `hcloud_*` resource,
 * data source and the provider block of a cdk.tf.json against the real provider schema
 * (`terraform providers schema -json` of hetznercloud/hcloud 1.59.0), independently of
 * the generated bindings, so a binding or a construct that emits something the provider
 * would refuse (or has deprecated) fails a test instead of a `terraform plan`.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const HCLOUD_FQPN = "registry.terraform.io/hetznercloud/hcloud";
export const HCLOUD_SCHEMA_VERSION = "1.59.0";

/** Repo root is two levels up; this project's CI keeps ../shared beside the clone. */
export const HCLOUD_SCHEMA_PATH = path.resolve(
  __dirname, "..", "..", "..", "shared", "providers", `hetznercloud-hcloud-${HCLOUD_SCHEMA_VERSION}.schema.json`,
);
/** Where a schema dumped by terraform is kept between runs (a plain clone has no ../shared). */
export const HCLOUD_SCHEMA_CACHE = path.resolve(
  __dirname, "..", "..", "node_modules", ".cache", "cdktf-nixos-installer", `hetznercloud-hcloud-${HCLOUD_SCHEMA_VERSION}.schema.json`,
);

/** The schema file to check against, or why there is none (then the schema tests are skipped). */
export interface HcloudSchemaSource {
  readonly file?: string;
  readonly skipReason?: string;
}

/**
 * Finds the hcloud provider schema: ../shared/providers/ beside the clone, else the
 * cache, else `terraform providers schema -json` after a `terraform init` that fetches
 * the provider (a machine with network), written to the cache.
 */
export function findHcloudSchema(where: { shared: string; cache: string } = { shared: HCLOUD_SCHEMA_PATH, cache: HCLOUD_SCHEMA_CACHE }): HcloudSchemaSource {
  if (fs.existsSync(where.shared)) return { file: where.shared };
  if (fs.existsSync(where.cache)) return { file: where.cache };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ni-hcloud-schema-"));
  try {
    const source = HCLOUD_FQPN.replace(/^registry\.terraform\.io\//, "");
    fs.writeFileSync(path.join(work, "main.tf.json"), JSON.stringify({ terraform: { required_providers: { hcloud: { source, version: HCLOUD_SCHEMA_VERSION } } } }));
    const env = { ...process.env, TF_IN_AUTOMATION: "1", CHECKPOINT_DISABLE: "1" };
    const init = spawnSync("terraform", [`-chdir=${work}`, "init", "-input=false", "-no-color"], { encoding: "utf8", env, timeout: 120_000 });
    if (init.status !== 0) {
      // Terraform's own words from its "Error:" on: the failing step and its cause.
      const text = `${init.stdout}${init.stderr}`;
      const from = text.indexOf("Error:");
      const why = init.error ? init.error.message : (from >= 0 ? text.slice(from) : text).replace(/\s+/g, " ").trim().slice(0, 300);
      return { skipReason: `no hcloud ${HCLOUD_SCHEMA_VERSION} provider schema: ${where.shared} is absent and terraform init could not fetch ${source} ${HCLOUD_SCHEMA_VERSION} (${why})` };
    }
    const dump = spawnSync("terraform", [`-chdir=${work}`, "providers", "schema", "-json"], { encoding: "utf8", env, maxBuffer: 256 * 1024 * 1024 });
    if (dump.status !== 0) return { skipReason: `terraform providers schema -json failed: ${dump.stderr.trim()}` };
    fs.mkdirSync(path.dirname(where.cache), { recursive: true });
    fs.writeFileSync(where.cache, dump.stdout);
    return { file: where.cache };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

let found: HcloudSchemaSource | undefined;
/** findHcloudSchema() once a test file. */
export function hcloudSchemaSource(): HcloudSchemaSource {
  return (found ??= findHcloudSchema());
}

let reasonPrinted = false;
/** `it` when the schema can be had, else `it.skip` (and the reason printed once a test file). */
export function itWithHcloudSchema(): jest.It {
  const source = hcloudSchemaSource();
  if (source.file) return it;
  if (!reasonPrinted) process.stderr.write(`skipping the hcloud schema tests: ${source.skipReason}\n`);
  reasonPrinted = true;
  return it.skip;
}

interface SchemaAttribute {
  type?: unknown;
  nested_type?: unknown;
  required?: boolean;
  optional?: boolean;
  computed?: boolean;
  deprecated?: boolean;
  sensitive?: boolean;
}
interface SchemaBlockType {
  nesting_mode: "single" | "list" | "set" | "map" | "group";
  block: SchemaBlock;
  min_items?: number;
  max_items?: number;
}
interface SchemaBlock {
  attributes?: Record<string, SchemaAttribute>;
  block_types?: Record<string, SchemaBlockType>;
  deprecated?: boolean;
}
interface ProviderSchema {
  provider: { block: SchemaBlock };
  resource_schemas: Record<string, { block: SchemaBlock }>;
  data_source_schemas: Record<string, { block: SchemaBlock }>;
}

/** Terraform meta-arguments allowed beside a resource's own attributes. */
const RESOURCE_META = new Set(["count", "for_each", "provider", "depends_on", "lifecycle", "connection", "provisioner"]);
const PROVIDER_META = new Set(["alias"]);

let cached: ProviderSchema | undefined;

/** The hcloud provider schema (from the file findHcloudSchema finds, unless one is given). */
export function loadHcloudSchema(file?: string): ProviderSchema {
  if (file === undefined && cached) return cached;
  const chosen = file ?? hcloudSchemaSource().file;
  if (chosen === undefined) throw new Error(hcloudSchemaSource().skipReason);
  const json = JSON.parse(fs.readFileSync(chosen, "utf8"));
  const schema = json.provider_schemas?.[HCLOUD_FQPN] as ProviderSchema | undefined;
  if (!schema) throw new Error(`${chosen} holds no schema for ${HCLOUD_FQPN}`);
  if (file === undefined) cached = schema;
  return schema;
}

/** A value cdktf left for Terraform to compute (`${…}` interpolation): its type is unknown at synth. */
function isExpression(value: unknown): boolean {
  return typeof value === "string" && value.includes("${");
}

function checkType(type: unknown, value: unknown, where: string, out: string[]): void {
  if (value === null || isExpression(value)) return;
  if (typeof type === "string") {
    const ok =
      (type === "string" && typeof value === "string") ||
      (type === "number" && typeof value === "number") ||
      (type === "bool" && typeof value === "boolean") ||
      type === "dynamic";
    if (!ok) out.push(`${where}: expected ${type}, got ${JSON.stringify(value)}`);
    return;
  }
  if (Array.isArray(type)) {
    const [kind, inner] = type as [string, unknown];
    if (kind === "list" || kind === "set") {
      if (!Array.isArray(value)) return void out.push(`${where}: expected ${kind}, got ${JSON.stringify(value)}`);
      value.forEach((v, i) => checkType(inner, v, `${where}[${i}]`, out));
    } else if (kind === "map") {
      if (typeof value !== "object" || Array.isArray(value)) return void out.push(`${where}: expected map, got ${JSON.stringify(value)}`);
      for (const [k, v] of Object.entries(value as object)) checkType(inner, v, `${where}.${k}`, out);
    } else if (kind === "object") {
      if (typeof value !== "object" || Array.isArray(value)) return void out.push(`${where}: expected object, got ${JSON.stringify(value)}`);
      const fields = inner as Record<string, unknown>;
      for (const [k, v] of Object.entries(value as object)) {
        if (!(k in fields)) out.push(`${where}.${k}: unknown object field`);
        else checkType(fields[k], v, `${where}.${k}`, out);
      }
    }
  }
}

function checkBlock(block: SchemaBlock, body: Record<string, unknown>, where: string, meta: Set<string>, out: string[]): void {
  const attributes = block.attributes ?? {};
  const blocks = block.block_types ?? {};
  for (const [key, value] of Object.entries(body)) {
    if (meta.has(key)) continue;
    const attribute = attributes[key];
    const blockType = blocks[key];
    if (attribute) {
      if (!attribute.optional && !attribute.required) out.push(`${where}.${key}: read-only (computed) attribute is set`);
      if (attribute.deprecated) out.push(`${where}.${key}: deprecated attribute is set`);
      checkType(attribute.type, value, `${where}.${key}`, out);
    } else if (blockType) {
      checkNestedBlock(blockType, value, `${where}.${key}`, out);
    } else {
      out.push(`${where}.${key}: unknown attribute or block`);
    }
  }
  for (const [key, attribute] of Object.entries(attributes)) {
    if (attribute.required && !(key in body)) out.push(`${where}.${key}: required attribute is missing`);
  }
  for (const [key, blockType] of Object.entries(blocks)) {
    if ((blockType.min_items ?? 0) > 0 && !(key in body)) out.push(`${where}.${key}: required block is missing`);
  }
}

function checkNestedBlock(blockType: SchemaBlockType, value: unknown, where: string, out: string[]): void {
  if (blockType.block.deprecated) out.push(`${where}: deprecated block is set`);
  if (blockType.nesting_mode === "single" || blockType.nesting_mode === "group") {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return void out.push(`${where}: expected one block (object), got ${JSON.stringify(value)}`);
    }
    return checkBlock(blockType.block, value as Record<string, unknown>, where, new Set(), out);
  }
  if (blockType.nesting_mode === "map") {
    if (typeof value !== "object" || value === null) return void out.push(`${where}: expected a map of blocks`);
    for (const [k, v] of Object.entries(value)) checkBlock(blockType.block, v as Record<string, unknown>, `${where}.${k}`, new Set(), out);
    return;
  }
  if (isExpression(value)) return; // dynamic block content
  const items = Array.isArray(value) ? value : [value];
  if (blockType.min_items !== undefined && items.length < blockType.min_items) out.push(`${where}: at least ${blockType.min_items} blocks required, got ${items.length}`);
  if (blockType.max_items !== undefined && blockType.max_items > 0 && items.length > blockType.max_items) out.push(`${where}: at most ${blockType.max_items} blocks allowed, got ${items.length}`);
  items.forEach((item, i) => {
    if (typeof item !== "object" || item === null) return void out.push(`${where}[${i}]: expected a block (object), got ${JSON.stringify(item)}`);
    checkBlock(blockType.block, item as Record<string, unknown>, `${where}[${i}]`, new Set(), out);
  });
}

export interface HcloudConformance {
  /** One line a violation: `hcloud_server.web.datacenter: deprecated attribute is set`. */
  violations: string[];
  /** How many hcloud resources, data sources and provider blocks were checked, by type. */
  checked: Record<string, number>;
}

/**
 * Checks every hcloud resource, data source and provider configuration of one
 * synthesized stack (the parsed cdk.tf.json, or its text) against the provider schema.
 */
export function checkHcloudConformance(synthesized: string | object, schema: ProviderSchema = loadHcloudSchema()): HcloudConformance {
  const doc = (typeof synthesized === "string" ? JSON.parse(synthesized) : synthesized) as Record<string, any>;
  const violations: string[] = [];
  const checked: Record<string, number> = {};
  const count = (type: string) => (checked[type] = (checked[type] ?? 0) + 1);

  for (const [type, instances] of Object.entries<Record<string, any>>(doc.resource ?? {})) {
    if (!type.startsWith("hcloud_")) continue;
    const resource = schema.resource_schemas[type];
    for (const [name, body] of Object.entries(instances)) {
      count(type);
      if (!resource) violations.push(`${type}.${name}: unknown resource type`);
      else checkBlock(resource.block, body, `${type}.${name}`, RESOURCE_META, violations);
    }
  }
  for (const [type, instances] of Object.entries<Record<string, any>>(doc.data ?? {})) {
    if (!type.startsWith("hcloud_")) continue;
    const dataSource = schema.data_source_schemas[type];
    for (const [name, body] of Object.entries(instances)) {
      count(`data.${type}`);
      if (!dataSource) violations.push(`data.${type}.${name}: unknown data source type`);
      else checkBlock(dataSource.block, body, `data.${type}.${name}`, RESOURCE_META, violations);
    }
  }
  const providers = doc.provider?.hcloud;
  for (const [i, body] of (Array.isArray(providers) ? providers : providers ? [providers] : []).entries()) {
    count("provider.hcloud");
    checkBlock(schema.provider.block, body, `provider.hcloud[${i}]`, PROVIDER_META, violations);
  }
  return { violations, checked };
}
