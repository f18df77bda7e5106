/**
 * `deno task bench:cluster`: tidings as several processes on one machine, sharing one KV file or
 * one Redis. Scenarios (`--scenarios=` names):
 *
 * | name         | what                                                                          |
 * | ------------ | ----------------------------------------------------------------------------- |
 * | `two-process`| two processes on one KV file, publisher on one, subscribers on both: latency  |
 * | `cross-node` | three nodes on one Redis, publisher on one, subscribers on all: latency       |
 * | `durable`    | 100 publishers as fast as the hub answers: Redis ×1 and ×3, KV and the floor  |
 * | `catchup`    | a subscriber resumes on another node 1,000 events behind (Redis and KV)       |
 *
 * Flags: `--smoke` (tiny sizes, < 1 min, for CI) · `--scenarios=a,b` · `--duration=10` (s, latency
 * scenarios) · `--rate=200` (publishes/s) · `--subscribers=20` (per node) · `--nodes=3` ·
 * `--publishers=100` · `--durable-duration=5` (s) · `--durable-topics=1` ·
 * `--durable-targets=redis×1,redis×3,kv×1,floor×1` (`floor`: `bench/floor.ts`'s bare `Deno.serve`) · `--catchup-events=1000` · `--catchup-rounds=5` ·
 * `--appendfsync=everysec|always` (Redis) · `--port=18600` · `--server-env=K=V,…` ·
 * `--json=path` · `--markdown=path`.
 *
 * Exit code 1 when any run saw a correctness failure; targets never fail the run.
 *
 * @module
 */

import {
  type Cluster,
  type ClusterRig,
  type Engine,
  loadAverage,
  runClusterCatchUp,
  runClusterDurable,
  runDelivery,
  startCluster,
} from "./cluster_scenarios.ts";
import type { Outcome } from "./outcome.ts";
import { machineInfo } from "./proc_stats.ts";
import { REDIS_SERVER } from "./redis_server.ts";
import { renderTables, renderTargets, type TargetCheck } from "./report.ts";
import { LoadWorker } from "./worker_pool.ts";

/** The flags of `bench/cluster.ts`. */
export interface ClusterOptions {
  smoke: boolean;
  scenarios: string[];
  durationMs: number;
  rate: number;
  subscribersPerNode: number;
  nodes: number;
  publishers: number;
  durableDurationMs: number;
  durableTopics: number;
  durableTargets: string[];
  catchupEvents: number;
  catchupRounds: number;
  appendfsync: "always" | "everysec";
  port: number;
  serverEnv: Record<string, string>;
  jsonPath?: string;
  markdownPath?: string;
}

const SCENARIOS = ["two-process", "cross-node", "durable", "catchup"];

/** Table titles. */
export const CLUSTER_TITLES: Record<string, string> = {
  "two-process": "C1. Two processes on one KV file: publisher on one, subscribers on both",
  "cross-node": "C2. Nodes on one Redis: publisher on node 0, subscribers on every node",
  durable: "C3. Durable publishing, publishers spread over the nodes (Redis and KV)",
  catchup: "C4. Catch-up on another node: resume with Last-Event-ID, events behind",
};

/**
 * Parses the flags (full sizes, or `--smoke` sizes that later flags can override).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseClusterOptions } from "./cluster.ts";
 * const options = parseClusterOptions(["--smoke", "--nodes=2"]);
 * assert.ok(options.smoke && options.nodes === 2 && options.durationMs < 10_000);
 * ```
 */
export function parseClusterOptions(args: string[]): ClusterOptions {
  const flags = new Map<string, string>();
  for (const arg of args) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg}`);
    flags.set(match[1], match[2] ?? "true");
  }
  const smoke = flags.get("smoke") === "true";
  const number = (name: string, full: number, small: number) => {
    const value = Number(flags.get(name) ?? (smoke ? small : full));
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number`);
    return value;
  };
  const list = (name: string, full: string[]) =>
    flags.has(name) ? flags.get(name)!.split(",").map((s) => s.trim()).filter(Boolean) : full;
  const scenarios = list("scenarios", SCENARIOS);
  for (const scenario of scenarios) {
    if (!SCENARIOS.includes(scenario)) {
      throw new Error(`unknown scenario ${scenario}: use ${SCENARIOS.join(", ")}`);
    }
  }
  const appendfsync = flags.get("appendfsync") ?? "everysec";
  if (appendfsync !== "always" && appendfsync !== "everysec") {
    throw new Error("--appendfsync must be always or everysec");
  }
  const durableTargets = list("durable-targets", ["redis×1", "redis×3", "kv×1", "floor×1"]).map((
    t,
  ) => t.replace("x", "×"));
  for (const target of durableTargets) {
    if (!/^(redis|kv|floor)×[1-9]$/.test(target)) {
      throw new Error(`--durable-targets: ${target} is not redis×N, kv×N or floor×N`);
    }
  }
  const serverEnv: Record<string, string> = {};
  for (const pair of (flags.get("server-env") ?? "").split(",").filter(Boolean)) {
    const equals = pair.indexOf("=");
    serverEnv[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return {
    smoke,
    scenarios,
    durationMs: number("duration", 10, 2) * 1000,
    rate: number("rate", 200, 100),
    subscribersPerNode: number("subscribers", 20, 5),
    nodes: Math.max(2, number("nodes", 3, 3)),
    publishers: Math.max(1, number("publishers", 100, 100)),
    durableDurationMs: number("durable-duration", 5, 1) * 1000,
    durableTopics: Math.max(1, number("durable-topics", 1, 1)),
    durableTargets,
    catchupEvents: Math.max(1, number("catchup-events", 1000, 1000)),
    catchupRounds: Math.max(1, number("catchup-rounds", 5, 1)),
    appendfsync,
    port: number("port", 18600, 18600),
    serverEnv,
    jsonPath: flags.get("json"),
    markdownPath: flags.get("markdown"),
  };
}

function metric(outcomes: Outcome[], scenario: string, target: string, prefix: string) {
  return outcomes.find((o) => o.scenario === scenario && o.target === target)?.metrics.find((m) =>
    m.name.startsWith(prefix)
  )?.value;
}

/**
 * The issue's targets for the cluster (`met` is n/a in smoke runs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkClusterTargets } from "./cluster.ts";
 * assert.equal(checkClusterTargets([], 3, false).length, 0);
 * ```
 */
export function checkClusterTargets(
  outcomes: Outcome[],
  nodes: number,
  smoke: boolean,
): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const fmt = (value: number) => value.toLocaleString("en-US", { maximumFractionDigits: 1 });
  const latency = (scenario: string, target: string, goal: string, limit: number) => {
    const p99 = metric(outcomes, scenario, target, "publish→deliver p99, every subscriber");
    const other = metric(outcomes, scenario, target, "publish→deliver p99, other nodes");
    if (p99 === undefined || other === undefined) return;
    const worst = Math.max(p99, other);
    checks.push({
      goal,
      measured: `p99 ${fmt(other)} ms on the other node(s), ${fmt(p99)} ms over all`,
      met: smoke ? undefined : worst <= limit,
    });
  };
  latency(
    "two-process",
    "kv×2",
    "two processes on one KV file, publish on one: p99 ≤ 50 ms",
    50,
  );
  latency("cross-node", `redis×${nodes}`, `cross-node delivery, ${nodes} nodes: p99 ≤ 20 ms`, 20);
  for (const target of ["redis×1", `redis×${nodes}`, "redis×3"]) {
    const rate = outcomes.find((o) => o.scenario === "durable" && o.target === target)?.metrics
      .find((m) => m.name.endsWith("events/s answered 200"));
    if (!rate?.value || checks.some((c) => c.goal.includes(`Redis, ${target}`))) continue;
    const beside = (engine: string) =>
      outcomes.filter((o) => o.scenario === "durable" && o.target.startsWith(engine))
        .map((o) =>
          `${o.target} ${
            fmt(o.metrics.find((m) => m.name.endsWith("events/s answered 200"))?.value ?? 0)
          }/s`
        );
    const kv = beside("kv");
    const floor = beside("floor");
    checks.push({
      goal: `durable publishing on Redis, ${target}, ${rate.name.split(":")[0]}: ≥ 30,000 events/s`,
      measured: `${fmt(rate.value)}/s${kv.length ? ` (KV: ${kv.join(", ")})` : ""}${
        floor.length ? ` (HTTP floor, nothing stored: ${floor.join(", ")})` : ""
      }`,
      met: smoke ? undefined : rate.value >= 30_000,
    });
  }
  for (const outcome of outcomes.filter((o) => o.scenario === "catchup")) {
    const value = outcome.metrics.find((m) => m.name.startsWith("catch-up of"));
    if (value?.value === undefined) continue;
    checks.push({
      goal: `catch-up on another node, ${outcome.target} (scenario 6's bar: < 50 ms)`,
      measured: `${fmt(value.value)} ms (${value.name})`,
      met: smoke ? undefined : value.value < 50,
    });
  }
  return checks;
}

function parseTarget(target: string): { engine: Engine; nodes: number } {
  const [engine, count] = target.split("×");
  return { engine: engine as Engine, nodes: Number(count) };
}

async function main(): Promise<number> {
  const options = parseClusterOptions(Deno.args);
  try {
    Deno.statSync(REDIS_SERVER);
  } catch {
    console.error(`bench:cluster: needs ${REDIS_SERVER} (apt-get install redis-server)`);
    return 2;
  }
  const machine = await machineInfo();
  const started = new Date();
  const publisher = LoadWorker.spawn();
  const sameNode = LoadWorker.spawn();
  const otherNodes = LoadWorker.spawn();
  const outcomes: Outcome[] = [];
  let port = options.port;
  const runs: Array<{ scenario: string; target: string }> = [];
  for (const scenario of options.scenarios) {
    if (scenario === "two-process") runs.push({ scenario, target: "kv×2" });
    if (scenario === "cross-node") runs.push({ scenario, target: `redis×${options.nodes}` });
    if (scenario === "durable") {
      for (const target of options.durableTargets) runs.push({ scenario, target });
    }
    if (scenario === "catchup") {
      runs.push({ scenario, target: "redis×2" }, { scenario, target: "kv×2" });
    }
  }
  try {
    for (const { scenario, target } of runs) {
      const t0 = performance.now();
      let cluster: Cluster | undefined;
      try {
        cluster = await startCluster({
          ...parseTarget(target),
          port,
          appendfsync: options.appendfsync,
          env: options.serverEnv,
        });
        port += 10;
        const rig: ClusterRig = {
          cluster,
          publisher,
          sameNode,
          otherNodes,
          tag: `c${Date.now().toString(36)}`,
        };
        const outcome = scenario === "durable"
          ? await runClusterDurable(
            rig,
            options.publishers,
            options.durableDurationMs,
            options.durableTopics,
          )
          : scenario === "catchup"
          ? await runClusterCatchUp(rig, options.catchupEvents, options.catchupRounds)
          : await runDelivery(rig, scenario, {
            subscribersPerNode: options.subscribersPerNode,
            rate: options.rate,
            durationMs: options.durationMs,
          });
        outcomes.push(outcome);
        console.error(
          `bench:cluster: ${scenario} × ${target} done in ${
            ((performance.now() - t0) / 1000).toFixed(1)
          } s (load ${(await loadAverage()).toFixed(2)})${
            outcome.failures.length ? ` — ${outcome.failures.length} FAILURE(S)` : ""
          }`,
        );
      } catch (error) {
        outcomes.push({
          scenario,
          target,
          metrics: [],
          notes: [],
          failures: [`scenario crashed: ${(error as Error).message}`],
        });
        console.error(`bench:cluster: ${scenario} × ${target} crashed:`, error);
      } finally {
        await cluster?.stop();
        await Promise.all(
          [sameNode, otherNodes].map((w) => w.call({ op: "close" }).catch(() => {})),
        );
      }
    }
  } finally {
    await Promise.all([publisher, sameNode, otherNodes].map((w) => w.stop()));
  }
  const report = [
    `## Cluster run of ${started.toISOString()}${
      options.smoke ? " (smoke sizes: not a measurement)" : ""
    }`,
    "",
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}; ` +
    `Deno ${Deno.version.deno}; Redis appendfsync ${options.appendfsync}. ` +
    `Command: \`deno task bench:cluster ${Deno.args.join(" ")}\``,
    "",
    renderTables(outcomes, CLUSTER_TITLES),
    "### Targets",
    "",
    renderTargets(checkClusterTargets(outcomes, options.nodes, options.smoke)),
    "",
  ].join("\n");
  console.log(report);
  if (options.markdownPath) await Deno.writeTextFile(options.markdownPath, report);
  if (options.jsonPath) {
    await Deno.writeTextFile(
      options.jsonPath,
      JSON.stringify(
        { started: started.toISOString(), machine, args: Deno.args, outcomes },
        null,
        2,
      ),
    );
  }
  const failures = outcomes.reduce((sum, o) => sum + o.failures.length, 0);
  if (failures > 0) {
    console.error(`bench:cluster: ${failures} correctness failure(s), see the tables`);
  }
  return failures > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
