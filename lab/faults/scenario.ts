// One fault scenario = one jest test that records its own row for docs/RELIABILITY.md.
// Scenarios run side by side (test.concurrent; each owns its loopback addresses), and
// every one is bounded twice: its terraform runs have deadlines (fault-lab.ts) and
// the test has a jest timeout.
import * as path from "path";
import { ROOT } from "../lab";
import { Fleet, startFleet } from "./fault-lab";
import { recordResult, writeReliabilityDoc } from "./report";

export interface ScenarioSpec {
  readonly id: string;
  readonly title: string;
  readonly expected: string;
  /** Jest timeout of the test. */
  readonly timeoutMs: number;
  /** The test file (__filename), named in the row. */
  readonly file: string;
}

export interface Outcome {
  /** What happened, in one or two sentences built from the run's own output. */
  readonly happened: string;
  /** The measured time, when not the scenario's wall time (e.g. one host's share of a shared apply). */
  readonly seconds?: number;
}

/**
 * A test that runs `body`, records what happened (or how it failed) and rethrows a
 * failure. Tests run in order; the slow work they look at runs side by side in a RunPool.
 */
export function scenario(spec: ScenarioSpec, body: () => Promise<Outcome>): void {
  test(
    `${spec.id} ${spec.title}`,
    async () => {
      const started = Date.now();
      const row = { id: spec.id, scenario: spec.title, expected: spec.expected, test: path.relative(ROOT, spec.file) };
      try {
        const outcome = await body();
        recordResult({ ...row, happened: outcome.happened, seconds: outcome.seconds ?? (Date.now() - started) / 1000, passed: true, finishedAt: new Date().toISOString() });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        recordResult({ ...row, happened: `FAILED: ${message.split("\n").slice(0, 6).join(" ").slice(0, 600)}`, seconds: (Date.now() - started) / 1000, passed: false, finishedAt: new Date().toISOString() });
        throw error;
      }
    },
    spec.timeoutMs,
  );
}

export interface Timed<T> {
  readonly value: T;
  /** Seconds from the start of the work (not from when it was queued) to its end. */
  readonly seconds: number;
}

/**
 * Runs at most `limit` pieces of work at a time, in the order they were added, so that
 * scenarios needing their own hosts overlap without starving a 2-core machine.
 */
export class RunPool {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  private readonly all: Promise<unknown>[] = [];

  constructor(private readonly limit: number) {}

  add<T>(work: () => Promise<T>): Promise<Timed<T>> {
    const p = new Promise<Timed<T>>((resolve, reject) => {
      const start = () => {
        this.active += 1;
        const t0 = Date.now();
        work()
          .then((value) => resolve({ value, seconds: (Date.now() - t0) / 1000 }), reject)
          .finally(() => {
            this.active -= 1;
            this.queue.shift()?.();
          });
      };
      if (this.active < this.limit) start();
      else this.queue.push(start);
    });
    // Awaited by a test later; until then a failure must not count as unhandled.
    p.catch(() => undefined);
    this.all.push(p);
    return p;
  }

  /** Resolves when every piece of work has ended (also work no selected test awaited, e.g. under -t). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.all);
  }
}

/** Seconds a host's phases reported (`[name phase] ssh: …, S s`), summed over the given outputs. */
export function hostSeconds(name: string, ...outputs: string[]): number {
  let total = 0;
  const re = new RegExp(`\\[${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} [a-z]+\\] ssh: \\d+ master connection\\(s\\), \\d+ bytes sent, ([0-9.]+) s`, "g");
  // Only the streamed lines: terraform's error summary repeats them.
  const streamed = (out: string) => out.split("\n").filter((l) => l.includes(" (local-exec): ")).join("\n");
  for (const out of outputs) for (const m of streamed(out).matchAll(re)) total += Number(m[1]);
  return total;
}

/**
 * The fleets of one test file and the pool their runs share: afterAll waits for every
 * run (also those whose tests were filtered out with -t), stops every lab host, and
 * renders docs/RELIABILITY.md.
 */
export function fleetSuite(limit: number): { pool: RunPool; fleetOf: (o: Parameters<typeof startFleet>[0]) => Promise<Fleet> } {
  const fleets: Fleet[] = [];
  const pool = new RunPool(limit);
  afterAll(async () => {
    await pool.settled();
    await Promise.all(fleets.map((f) => f.close()));
    writeReliabilityDoc();
  }, 600_000);
  return {
    pool,
    /** Starts a fleet and remembers it, so afterAll stops its hosts whatever happened. */
    fleetOf: async (o) => {
      const f = await startFleet(o);
      fleets.push(f);
      return f;
    },
  };
}
