// Hetzner retired the first cx line (deprecated October 2025, not orderable after
// 2025-12-31): no example, doc, test or code names those types any more. Recorded
// machines keep theirs as data: runtime-info fixtures and lab profiles.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "./helpers";

const RETIRED = ["22", "32", "42", "52"].map((n) => `cx${n}`);
const DATA = [/^__tests__\/fixtures\//, /^lab\/target\/profiles\//];

test("no file outside the recorded machines names a retired server type", () => {
  const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { cwd: REPO_ROOT, encoding: "utf8" })
    .split("\n")
    // files only: a worktree's node_modules may be a symlink, which git lists as an untracked file
    .filter((f) => f !== "" && !DATA.some((d) => d.test(f)) && fs.existsSync(path.join(REPO_ROOT, f)) && fs.statSync(path.join(REPO_ROOT, f)).isFile());
  const pattern = new RegExp(`\\b(${RETIRED.join("|")})\\b`, "i");
  const found = files.flatMap((f) =>
    fs
      .readFileSync(path.join(REPO_ROOT, f), "utf8")
      .split("\n")
      .flatMap((line, i) => (pattern.test(line) ? [`${f}:${i + 1}: ${line.trim().slice(0, 120)}`] : [])),
  );
  expect(files.length).toBeGreaterThan(100);
  expect(found).toEqual([]);
});
