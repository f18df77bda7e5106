/**
 * The performance targets, checked against one run's outcomes (same-run nchan figures).
 *
 * @module
 */

import type { Outcome } from "./outcome.ts";
import type { TargetCheck } from "./report.ts";

function metric(
  outcomes: Outcome[],
  scenario: string,
  target: string,
  name: string,
): number | undefined {
  return outcomes.find((o) => o.scenario === scenario && o.target === target)
    ?.metrics.find((m) => m.name === name)?.value;
}

const fmt = (value: number, digits = 2) =>
  value.toLocaleString("en-US", { maximumFractionDigits: digits });

/**
 * Builds the target table rows for every tidings variant in the outcomes (`met` is n/a in smoke
 * runs: tiny sizes measure nothing). `fanout-max` is informational: the targets name
 * scenarios 1 and 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkTargets } from "./targets.ts";
 * assert.ok(checkTargets([]).length === 0);
 * ```
 */
export function checkTargets(outcomes: Outcome[], smoke = false): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const variants = [
    ...new Set(outcomes.map((o) => o.target).filter((t) => t.startsWith("tidings"))),
  ];
  for (const variant of variants) {
    for (const scenario of ["fanout", "fanout-max", "burst"]) {
      const ours = metric(outcomes, scenario, variant, "deliveries/s");
      const theirs = metric(outcomes, scenario, "nchan", "deliveries/s");
      if (ours !== undefined && theirs !== undefined && theirs > 0) {
        checks.push({
          goal: `${variant}, ${scenario}: deliveries/s ≥ 1.5× nchan`,
          measured: `${fmt(ours, 0)} vs ${fmt(theirs, 0)} = ${(ours / theirs).toFixed(2)}×`,
          met: ours >= 1.5 * theirs,
        });
      }
      const p99 = metric(outcomes, scenario, variant, "latency p99");
      const theirP99 = metric(outcomes, scenario, "nchan", "latency p99");
      if (p99 !== undefined && theirP99 !== undefined && theirP99 > 0) {
        checks.push({
          goal: `${variant}, ${scenario}: p99 latency ≤ 0.5× nchan`,
          measured: `${fmt(p99)} ms vs ${fmt(theirP99)} ms = ${(p99 / theirP99).toFixed(2)}×`,
          met: p99 <= 0.5 * theirP99,
        });
      }
    }
    const perConnection = metric(outcomes, "idle", variant, "RSS per idle connection");
    const open = metric(outcomes, "idle", variant, "connections open");
    if (perConnection !== undefined) {
      checks.push({
        goal: `${variant}: ≤ 16 KB RSS per idle connection at 19,000`,
        measured: `${fmt(perConnection)} KB at ${fmt(open ?? 0, 0)} connections`,
        met: perConnection <= 16 && (open ?? 0) >= 19_000
          ? true
          : perConnection > 16
          ? false
          : undefined,
      });
    }
    const durable = outcomes.find((o) => o.scenario === "durable" && o.target === variant)
      ?.metrics.filter((m) => /^\d+ publisher\(s\): events\/s accepted$/.test(m.name));
    const hundred = durable?.find((m) => m.name.startsWith("100 "));
    if (hundred?.value !== undefined) {
      checks.push({
        goal: `${variant}: durable publishing ≥ 20,000 events/s with 100 publishers`,
        measured: `${fmt(hundred.value, 0)} events/s`,
        met: hundred.value >= 20_000,
      });
    }
    const catchup = outcomes.find((o) => o.scenario === "catchup" && o.target === variant)
      ?.metrics.find((m) => m.name.startsWith("catch-up of"));
    if (catchup?.value !== undefined) {
      checks.push({
        goal: `${variant}: catch-up of 1,000 events < 50 ms`,
        measured: `${fmt(catchup.value, 1)} ms (${catchup.name.replace("catch-up of ", "")})`,
        met: catchup.name.startsWith("catch-up of 1000 ") ? catchup.value < 50 : undefined,
      });
    }
  }
  if (smoke) { for (const check of checks) check.met = undefined; }
  return checks;
}
