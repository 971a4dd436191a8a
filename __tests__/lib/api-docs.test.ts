// The library compiles with jsii (what construct libraries use to publish for Python,
// Go, Java and C#), and API.md is what jsii-docgen makes of the assembly.
import { spawnSync } from "child_process";
import * as path from "path";

jest.setTimeout(300_000);
const root = path.resolve(__dirname, "..", "..");

test("jsii compiles the library and the committed API.md is current (npm run api rewrites it)", () => {
  const r = spawnSync(process.execPath, [path.join(root, "scripts", "api-docs.js"), "--check"], { cwd: root, encoding: "utf8" });
  expect(`${r.stdout}${r.stderr}`.trim()).toBe("api-docs: jsii compiled the library; API.md is current");
  expect(r.status).toBe(0);
});
