/**
 * A V8 CPU profile of one tidings node while publishers load a cluster (scenario C3 of
 * `bench/cluster.ts`), read through the inspector, printed as self time by file and function:
 *
 * ```sh
 * deno run -A bench/cluster_profile.ts [--engine=redis|kv] [--nodes=1] [--publishers=100] \
 *   [--duration=5] [--top=25] [--out=profile.cpuprofile]
 * ```
 *
 * The inspector slows the profiled node, so the events/s printed beside it are not a measurement.
 *
 * @module
 */

import { type Engine, runClusterDurable, startCluster } from "./cluster_scenarios.ts";
import { Inspector } from "./inspector.ts";
import { type CpuProfile, summarize } from "./profile.ts";
import { LoadWorker } from "./worker_pool.ts";

if (import.meta.main) {
  const flags = Object.fromEntries(
    Deno.args.map((arg) => arg.replace(/^--/, "").split("=")).map(([k, v]) => [k, v ?? "true"]),
  );
  const engine = (flags.engine ?? "redis") as Engine;
  const inspectPort = 19_239;
  const cluster = await startCluster({
    engine,
    nodes: Number(flags.nodes ?? 1),
    port: Number(flags.port ?? 18_700),
    appendfsync: flags.appendfsync === "always" ? "always" : "everysec",
    inspectPort,
  });
  const workers = [LoadWorker.spawn(), LoadWorker.spawn(), LoadWorker.spawn()];
  try {
    const inspector = await Inspector.connect(inspectPort);
    await inspector.send("Profiler.enable");
    await inspector.send("Profiler.setSamplingInterval", { interval: 200 });
    await inspector.send("Profiler.start");
    const outcome = await runClusterDurable(
      {
        cluster,
        publisher: workers[0],
        sameNode: workers[1],
        otherNodes: workers[2],
        tag: `p${Date.now().toString(36)}`,
      },
      Number(flags.publishers ?? 100),
      Number(flags.duration ?? 5) * 1000,
      1,
    );
    const { profile } = await inspector.send<{ profile: CpuProfile }>("Profiler.stop");
    inspector.close();
    if (flags.out) await Deno.writeTextFile(flags.out, JSON.stringify(profile));
    console.log(`## CPU profile of node 0 of ${cluster.label}, durable publishing\n`);
    for (const metric of outcome.metrics) {
      console.log(`- ${metric.name}: ${metric.value?.toFixed(metric.digits ?? 0)} ${metric.unit}`);
    }
    for (const failure of outcome.failures) console.log(`- FAILURE: ${failure}`);
    console.log("");
    console.log(summarize(profile, Number(flags.top ?? 25)));
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await cluster.stop();
  }
  // The inspector's socket can keep the event loop alive.
  Deno.exit(0);
}
