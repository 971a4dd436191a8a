// What Nix demands of a flake.lock when it reads one, restated from its reader
// (NixOS/nix src/libflake/lockfile.cc: LockFile::LockFile, LockedNode::LockedNode,
// LockFile::check; the input types' attributes from src/libfetchers: path.cc,
// indirect.cc, github.cc). Returns every violation, [] for a lock Nix reads as locked.
// Facts only: nothing here is Nix's code.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: Json | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Attributes each input type accepts in a lock file (besides `type`), and which of them make it locked. */
const TYPES: Record<string, { attrs: string[]; locked: (a: Obj) => boolean }> = {
  // path.cc: a path input is locked when it has a narHash
  path: { attrs: ["path", "narHash", "lastModified", "rev", "revCount"], locked: (a) => typeof a.narHash === "string" && typeof a.path === "string" },
  // indirect.cc: never locked (only allowed as `original`)
  indirect: { attrs: ["id", "ref", "rev", "narHash"], locked: () => false },
  // github.cc: locked by rev (and narHash)
  github: { attrs: ["owner", "repo", "ref", "rev", "narHash", "lastModified", "host"], locked: (a) => typeof a.rev === "string" },
};

function checkRef(where: string, ref: Json | undefined, mustBeLocked: boolean): string[] {
  if (!isObj(ref)) return [`${where}: missing in lock file`];
  const type = ref.type;
  if (typeof type !== "string" || !TYPES[type]) return [`${where}: unsupported input type ${JSON.stringify(type)}`];
  const errors: string[] = [];
  for (const k of Object.keys(ref)) if (k !== "type" && !TYPES[type].attrs.includes(k)) errors.push(`${where}: unsupported attribute '${k}' for type ${type}`);
  if (type === "path" && typeof ref.path === "string" && !ref.path.startsWith("/")) errors.push(`${where}: path ${ref.path} is not absolute`);
  if (typeof ref.narHash === "string" && !/^sha256-[A-Za-z0-9+/]{43}=$/.test(ref.narHash)) errors.push(`${where}: narHash ${ref.narHash} is not an SRI sha256`);
  if (mustBeLocked && !TYPES[type].locked(ref)) errors.push(`${where}: lock file contains unlocked input ${JSON.stringify(ref)}`);
  return errors;
}

export function lockFileErrors(lock: Json): string[] {
  if (!isObj(lock)) return ["the lock file is not a JSON object"];
  const errors: string[] = [];
  // LockFile::LockFile: versions 5 to 7 are read; what current Nix writes is 7
  if (lock.version !== 7) errors.push(`version is ${JSON.stringify(lock.version)}, not 7`);
  const nodes = lock.nodes;
  if (!isObj(nodes)) return [...errors, "nodes is missing"];
  const rootKey = lock.root;
  if (typeof rootKey !== "string" || !isObj(nodes[rootKey])) return [...errors, `root ${JSON.stringify(rootKey)} names no node`];

  const seen = new Set<string>();
  const follows: { from: string[]; to: string[] }[] = [];
  const visit = (key: string, at: string[]) => {
    const node = nodes[key] as Obj;
    if (key !== rootKey && !seen.has(key)) {
      seen.add(key);
      errors.push(...checkRef(`node ${key} locked`, node.locked, true), ...checkRef(`node ${key} original`, node.original, false));
      if (node.flake !== undefined && typeof node.flake !== "boolean") errors.push(`node ${key}: flake is not a boolean`);
    }
    if (node.inputs === undefined) return;
    if (!isObj(node.inputs)) return void errors.push(`node ${key}: inputs is not an object`);
    for (const [name, edge] of Object.entries(node.inputs)) {
      if (Array.isArray(edge)) {
        if (!edge.every((x) => typeof x === "string")) errors.push(`node ${key} input ${name}: follows path holds a non-string`);
        else follows.push({ from: [...at, name], to: edge as string[] });
      } else if (typeof edge === "string") {
        if (edge === rootKey) errors.push("lock file contains cycle to root node");
        else if (!isObj(nodes[edge])) errors.push(`lock file references missing node '${edge}'`);
        else if (at.length < 32) visit(edge, [...at, name]);
      } else errors.push(`node ${key} input ${name}: neither a node name nor a follows path`);
    }
  };
  visit(rootKey, []);

  // LockFile::check: a non-empty follows path must lead to an input
  const find = (path: string[], depth = 0): boolean => {
    let pos = nodes[rootKey] as Obj;
    for (let i = 0; i < path.length; i++) {
      const edge = isObj(pos.inputs) ? pos.inputs[path[i]] : undefined;
      if (typeof edge === "string" && isObj(nodes[edge])) pos = nodes[edge] as Obj;
      else if (Array.isArray(edge) && depth < 32) {
        if (!find([...(edge as string[]), ...path.slice(i + 1)], depth + 1)) return false;
        return true;
      } else return false;
    }
    return true;
  };
  for (const f of follows) if (f.to.length > 0 && !find(f.to)) errors.push(`input '${f.from.join("/")}' follows a non-existent input '${f.to.join("/")}'`);
  for (const key of Object.keys(nodes)) if (key !== rootKey && !seen.has(key)) errors.push(`node ${key} is not reachable from the root`);
  return errors;
}
