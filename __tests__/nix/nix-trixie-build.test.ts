// lab/nix-trixie/build replaces only a chroot it finished itself: anything else at --root
// is refused before debootstrap runs, and stays as it was.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const BUILD = path.resolve(__dirname, "..", "..", "lab", "nix-trixie", "build");
const ready = process.getuid?.() === 0 && spawnSync("sh", ["-c", "command -v debootstrap"]).status === 0;
if (!ready) console.log("skipped nix-trixie-build: needs root and debootstrap (apt-get install -y debootstrap)");

(ready ? test : test.skip)("a --root that holds something else is refused, naming it, and keeps its files", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nix-trixie-root-"));
  try {
    fs.writeFileSync(path.join(dir, "keep"), "data\n");
    const r = spawnSync(BUILD, ["--root", dir, "--mirror", "http://127.0.0.1:9/none"], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`error: ${dir} exists and is not a chroot this script finished (no .lab-nix-version in it); nothing was touched: remove it yourself or pass another --root\n`);
    expect(fs.readdirSync(dir)).toEqual(["keep"]);
    expect(fs.readFileSync(path.join(dir, "keep"), "utf8")).toBe("data\n");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
