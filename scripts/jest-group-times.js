// Jest reporter: after the run, one line per suite group (the first folder under
// __tests__/: lib, hcloud, nix, lab, target, faults, vm, …) with its files, tests and
// seconds, so a slow group is visible in every CI log. Tests run one file at a time
// (--runInBand), so a group's seconds are its share of the wall time.
// A reporter is loaded by jest without the TypeScript transform, hence plain JS.
const path = require("path");

class GroupTimes {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
    this.groups = new Map();
  }

  onTestResult(test, result) {
    const rel = path.relative(path.join(this.rootDir, "__tests__"), test.path);
    const group = rel.includes(path.sep) ? rel.split(path.sep)[0] : "(top)";
    const g = this.groups.get(group) ?? { files: 0, tests: 0, failed: 0, ms: 0 };
    g.files += 1;
    g.tests += result.numPassingTests + result.numFailingTests;
    g.failed += result.numFailingTests + (result.testExecError ? 1 : 0);
    g.ms += result.perfStats.end - result.perfStats.start;
    this.groups.set(group, g);
  }

  onRunComplete() {
    if (this.groups.size === 0) return;
    const rows = [...this.groups.entries()].sort((a, b) => b[1].ms - a[1].ms);
    const lines = ["", "test groups, slowest first (seconds, files, tests):"];
    let total = 0;
    for (const [name, g] of rows) {
      total += g.ms;
      const failed = g.failed > 0 ? `  ${g.failed} FAILED` : "";
      lines.push(`  ${(g.ms / 1000).toFixed(1).padStart(7)} s  ${name.padEnd(8)} ${String(g.files).padStart(3)} files ${String(g.tests).padStart(4)} tests${failed}`);
    }
    lines.push(`  ${(total / 1000).toFixed(1).padStart(7)} s  all`);
    process.stderr.write(lines.join("\n") + "\n");
  }
}

module.exports = GroupTimes;
