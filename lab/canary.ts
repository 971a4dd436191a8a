// Searches files for a canary passphrase: the lab's proof that a secret leaked nowhere.
import * as fs from "fs";
import * as path from "path";

/** Every file under `roots` (files or directories) whose bytes contain `canary`. */
export function filesContaining(canary: string, roots: string[]): string[] {
  const needle = Buffer.from(canary);
  const hits: string[] = [];
  const visit = (p: string) => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const entry of fs.readdirSync(p)) visit(path.join(p, entry));
    } else if (st.isFile()) {
      if (fs.readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  for (const root of roots) visit(root);
  return hits;
}
