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
}

/**
 * Collects metrics, notes and failures for one scenario run.
 *
 * @example
 * ```ts
 * import { OutcomeBuilder } from "./outcome.ts";
 * const builder = new OutcomeBuilder("fanout", "nchan");
 * builder.add("deliveries/s", 1000, "/s", "higher");
 * console.assert(builder.outcome.metrics.length === 1);
 * ```
 */
export class OutcomeBuilder {
  readonly outcome: Outcome;

  /**
   * @example
   * ```ts
   * import { OutcomeBuilder } from "./outcome.ts";
   * console.assert(new OutcomeBuilder("s", "t").outcome.scenario === "s");
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
 * import { describeCounts } from "./outcome.ts";
 * console.assert(describeCounts({ "HTTP 503": 2 }) === "HTTP 503 ×2");
 * ```
 */
export function describeCounts(counts: Record<string, number>): string {
  return Object.entries(counts).map(([message, count]) => `${message} ×${count}`).join("; ");
}
