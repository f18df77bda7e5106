/**
 * What one scenario measured against one target, and helpers to build it.
 *
 * @module
 */

/** One figure. */
export interface Metric {
  name: string;
  /** `undefined` = not applicable to this target. */
  value: number | undefined;
  unit: string;
  /** Which way is better, for the ratio column. `none` = no ratio. */
  better: "higher" | "lower" | "none";
  digits?: number;
}

/** A scenario's figures for one target. */
export interface Outcome {
  scenario: string;
  target: string;
  metrics: Metric[];
  /** Observations (client saturation, caveats). */
  notes: string[];
  /** Correctness problems: lost events, failed connections or publishes. */
  failures: string[];
  /** Which repetition (1-based) this was; merged outcomes say how many they summarise. */
  round?: number;
  rounds?: number;
}

/**
 * Collects metrics, notes and failures for one scenario run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OutcomeBuilder } from "./outcome.ts";
 * const builder = new OutcomeBuilder("fanout", "nchan");
 * builder.add("deliveries/s", 1000, "/s", "higher");
 * assert.ok(builder.outcome.metrics.length === 1);
 * ```
 */
export class OutcomeBuilder {
  readonly outcome: Outcome;

  /**
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { OutcomeBuilder } from "./outcome.ts";
   * assert.ok(new OutcomeBuilder("s", "t").outcome.scenario === "s");
   * ```
   */
  constructor(scenario: string, target: string) {
    this.outcome = { scenario, target, metrics: [], notes: [], failures: [] };
  }

  /**
   * Adds a figure.
   *
   * @example
   * ```ts
   * import { OutcomeBuilder } from "./outcome.ts";
   * new OutcomeBuilder("s", "t").add("p99", 1.5, "ms", "lower", 2);
   * ```
   */
  add(
    name: string,
    value: number | undefined,
    unit: string,
    better: Metric["better"],
    digits = 0,
  ): this {
    this.outcome.metrics.push({ name, value, unit, better, digits });
    return this;
  }

  /**
   * Adds an observation.
   *
   * @example
   * ```ts
   * import { OutcomeBuilder } from "./outcome.ts";
   * new OutcomeBuilder("s", "t").note("client saturated");
   * ```
   */
  note(text: string): this {
    this.outcome.notes.push(text);
    return this;
  }

  /**
   * Records a correctness problem (makes `--smoke` exit non-zero).
   *
   * @example
   * ```ts
   * import { OutcomeBuilder } from "./outcome.ts";
   * new OutcomeBuilder("s", "t").fail("3 events lost");
   * ```
   */
  fail(text: string): this {
    this.outcome.failures.push(text);
    return this;
  }
}

/**
 * Formats `{ message: count }` as `message ×count; …`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeCounts } from "./outcome.ts";
 * assert.ok(describeCounts({ "HTTP 503": 2 }) === "HTTP 503 ×2");
 * ```
 */
export function describeCounts(counts: Record<string, number>): string {
  return Object.entries(counts).map(([message, count]) => `${message} ×${count}`).join("; ");
}

/**
 * Merges repetitions of the same scenario × target: each metric becomes the median of its runs;
 * notes and failures are kept, prefixed with the run number when there were several.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeRounds } from "./outcome.ts";
 * const run = (value: number, round: number) => ({ scenario: "s", target: "t", round, notes: [], failures: [],
 *   metrics: [{ name: "m", value, unit: "", better: "higher" as const }] });
 * assert.ok(mergeRounds([run(1, 1), run(5, 2), run(3, 3)])[0].metrics[0].value === 3);
 * ```
 */
export function mergeRounds(outcomes: Outcome[]): Outcome[] {
  const groups = new Map<string, Outcome[]>();
  for (const outcome of outcomes) {
    const key = `${outcome.scenario}\u0000${outcome.target}`;
    groups.set(key, [...(groups.get(key) ?? []), outcome]);
  }
  return [...groups.values()].map((runs) => {
    if (runs.length === 1) return runs[0];
    const names = [...new Set(runs.flatMap((run) => run.metrics.map((metric) => metric.name)))];
    const metrics: Metric[] = names.map((name) => {
      const sample = runs.flatMap((run) => run.metrics).find((metric) => metric.name === name)!;
      const values = runs.map((run) => run.metrics.find((metric) => metric.name === name)?.value)
        .filter((value): value is number => value !== undefined && Number.isFinite(value))
        .sort((a, b) => a - b);
      const value = values.length === 0
        ? undefined
        : values.length % 2
        ? values[(values.length - 1) / 2]
        : (values[values.length / 2 - 1] + values[values.length / 2]) / 2;
      return { ...sample, value };
    });
    // A text every run produced is kept once; the others are tagged with their run.
    const tagged = (pick: (run: Outcome) => string[]) => {
      const everywhere = pick(runs[0]).filter((text) =>
        runs.every((run) => pick(run).includes(text))
      );
      return [
        ...everywhere,
        ...runs.flatMap((run) =>
          pick(run).filter((text) => !everywhere.includes(text)).map((text) =>
            `run ${run.round ?? "?"}: ${text}`
          )
        ),
      ];
    };
    return {
      scenario: runs[0].scenario,
      target: runs[0].target,
      metrics,
      notes: tagged((run) => run.notes),
      failures: tagged((run) => run.failures),
      rounds: runs.length,
    };
  });
}
