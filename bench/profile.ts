/**
 * Where tidings spends its time under a bench scenario: starts tidings (one isolate) with the V8
 * inspector on loopback, records a CPU profile (inspector `Profiler` domain over WebSocket) while
 * the scenario runs, and prints self time by function and by source file.
 *
 * ```sh
 * deno run --allow-net --allow-env --allow-read --allow-write --allow-run bench/profile.ts \
 *   [--scenario=burst|fanout-max|fanout|topics|storm|arrival] [--subscribers=500] [--publishers=8] [--duration=8]
 *   [--out=x.cpuprofile] [--direct]
 * ```
 *
 * @module
 */

import { runArrival, runStorm } from "./storm_and_arrival.ts";
import { type LiveSpec, type Rig, runLive } from "./live.ts";
import { Inspector } from "./inspector.ts";
import { startTidings } from "./servers.ts";
import { LoadWorker, WorkerPool } from "./worker_pool.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** A V8 CPU profile (`Profiler.stop`). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/** Self time by file and by function, as two Markdown tables. */
export function summarize(profile: CpuProfile, top: number): string {
  const total = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0) || 1;
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url
      ? url.replace(/^file:\/\/.*\/main\//, "").replace(/^ext:/, "ext:")
      : "(native/V8)";
    const name = `${functionName || "(anonymous)"} ${file}${url ? `:${lineNumber + 1}` : ""}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + hits);
    byFile.set(file, (byFile.get(file) ?? 0) + hits);
  }
  const table = (map: Map<string, number>, title: string) =>
    [
      `| ${title} | self % |`,
      "|---|---:|",
      ...[...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([key, hits]) =>
        `| \`${key}\` | ${(hits / total * 100).toFixed(1)} |`
      ),
    ].join("\n");
  return `${table(byFile, "source")}\n\n${table(byFunction, "function")}\n`;
}

if (import.meta.main) {
  const flags = Object.fromEntries(
    Deno.args.map((arg) => arg.replace(/^--/, "").split("=")).map(([k, v]) => [k, v ?? "true"]),
  );
  const scenario = flags.scenario ?? "burst";
  const inspectPort = 19_229;
  const target = await startTidings({
    port: Number(flags.port ?? 18_600),
    isolates: 1,
    direct: "direct" in flags,
    denoFlags: [`--inspect=127.0.0.1:${inspectPort}`],
  });
  const pool = WorkerPool.spawn(4);
  const publisher = LoadWorker.spawn();
  try {
    const inspector = await Inspector.connect(inspectPort);
    await inspector.send("Profiler.enable");
    await inspector.send("Profiler.setSamplingInterval", { interval: 200 });
    const rig: Rig = { target, subscribers: pool, publisher, tag: `p${Date.now().toString(36)}` };
    const spec: LiveSpec = {
      name: scenario,
      subscribers: Number(
        flags.subscribers ?? (scenario === "burst" ? 500 : scenario === "topics" ? 10_000 : 5000),
      ),
      topics: scenario === "topics" ? 100 : 1,
      rate: scenario === "fanout" ? 20 : scenario === "topics" ? 200 : 0,
      publishers: Number(
        flags.publishers ?? (scenario === "burst" ? 8 : scenario === "fanout-max" ? 4 : 16),
      ),
      durationMs: Number(flags.duration ?? 8) * 1000,
      paddingBytes: 64,
    };
    await inspector.send("Profiler.start");
    const outcome = scenario === "storm"
      ? await runStorm(rig, spec.subscribers, 100, Number(flags.concurrency ?? 64))
      : scenario === "arrival"
      ? await runArrival(rig, spec.subscribers)
      : await runLive(rig, spec);
    const { profile } = await inspector.send<{ profile: CpuProfile }>("Profiler.stop");
    inspector.close();
    if (flags.out) await Deno.writeTextFile(flags.out, JSON.stringify(profile));
    const delivered = outcome.metrics.find((m) => m.name === "deliveries/s")?.value ?? 0;
    console.log(
      `## CPU profile of tidings (1 isolate), scenario ${scenario}, ${spec.subscribers} subscribers\n`,
    );
    console.log(
      `deliveries/s during the profile: ${delivered.toFixed(0)} (the inspector slows the server)\n`,
    );
    console.log(summarize(profile, Number(flags.top ?? 25)));
  } finally {
    await target.stop();
    await pool.broadcast({ op: "close" }).catch(() => {});
    await pool.stop();
    await publisher.stop();
  }
}
