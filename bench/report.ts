/**
 * Renders outcomes as Markdown tables: one table per scenario, one column per target, and for
 * each tidings column the ratio to nchan from the same run.
 *
 * @module
 */

import type { Metric, Outcome } from "./outcome.ts";

function formatNumber(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return "n/a";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function ratio(metric: Metric, base: Metric | undefined): string {
  if (metric.better === "none" || !base || base.better === "none") return "";
  if (metric.value === undefined || base.value === undefined) return "n/a";
  if (base.value === 0) return metric.value === 0 ? "=" : "∞";
  return `${(metric.value / base.value).toFixed(2)}×`;
}

/**
 * One Markdown table per scenario, plus notes and failures under it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderTables } from "./report.ts";
 * const text = renderTables([{ scenario: "s", target: "nchan", notes: [], failures: [],
 *   metrics: [{ name: "m", value: 2, unit: "/s", better: "higher" }] }], { s: "Scenario" });
 * assert.ok(text.includes("| m (/s) | 2 |"));
 * ```
 */
export function renderTables(outcomes: Outcome[], titles: Record<string, string>): string {
  const lines: string[] = [];
  const scenarios = [...new Set(outcomes.map((o) => o.scenario))];
  for (const scenario of scenarios) {
    const runs = outcomes.filter((o) => o.scenario === scenario);
    const base = runs.find((o) => o.target === "nchan");
    const columns: string[] = [];
    for (const run of runs) {
      columns.push(run.target);
      if (base && run !== base) columns.push(`${run.target} ÷ nchan`);
    }
    lines.push(`### ${titles[scenario] ?? scenario}`, "");
    const rounds = Math.max(...runs.map((run) => run.rounds ?? 1));
    if (rounds > 1) lines.push(`Median of ${rounds} runs per target (targets interleaved).`, "");
    lines.push(`| metric | ${columns.join(" | ")} |`);
    lines.push(`|---|${columns.map(() => "---:").join("|")}|`);
    const names = [...new Set(runs.flatMap((o) => o.metrics.map((m) => m.name)))];
    for (const name of names) {
      const baseMetric = base?.metrics.find((m) => m.name === name);
      const sample = runs.flatMap((o) => o.metrics).find((m) => m.name === name)!;
      const cells: string[] = [];
      for (const run of runs) {
        const metric = run.metrics.find((m) => m.name === name);
        cells.push(metric ? formatNumber(metric.value, metric.digits ?? 0) : "n/a");
        if (base && run !== base) cells.push(metric ? ratio(metric, baseMetric) : "");
      }
      const unit = sample.unit ? ` (${sample.unit})` : "";
      lines.push(`| ${name}${unit} | ${cells.join(" | ")} |`);
    }
    lines.push("");
    for (const run of runs) {
      for (const note of run.notes) lines.push(`- ${run.target}: ${note}`);
      for (const failure of run.failures) lines.push(`- **${run.target}: FAILURE: ${failure}**`);
    }
    if (runs.some((r) => r.notes.length || r.failures.length)) lines.push("");
  }
  return lines.join("\n");
}

/** A target line: what the issue asks for and whether this run met it. */
export interface TargetCheck {
  goal: string;
  measured: string;
  met: boolean | undefined;
}

/**
 * Renders the target checks as a Markdown table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderTargets } from "./report.ts";
 * assert.ok(renderTargets([{ goal: "g", measured: "m", met: true }]).includes("| g | m | yes |"));
 * ```
 */
export function renderTargets(checks: TargetCheck[]): string {
  const lines = ["| target | measured | met |", "|---|---|---|"];
  for (const check of checks) {
    lines.push(
      `| ${check.goal} | ${check.measured} | ${
        check.met === undefined ? "n/a" : check.met ? "yes" : "**no**"
      } |`,
    );
  }
  return lines.join("\n");
}
