/**
 * The storage engines' own ceiling for durable publishing, without HTTP: `hub.publish` called by
 * N concurrent loops in this process (group commit as in the server) on a fresh `redis-server`
 * and on a Deno KV file, for a few seconds each. Tells the engine's share of scenario C3 of
 * `bench/cluster.ts` from the HTTP server's.
 *
 * ```sh
 * deno run -A bench/engine_floor.ts [--publishers=100] [--duration=3] [--engines=redis,kv] \
 *   [--appendfsync=everysec|always]
 * ```
 *
 * @module
 */

import { Hub } from "../lib/hub/hub.ts";
import { KvTransport } from "../lib/kv/kv_transport.ts";
import { RedisTransport } from "../lib/redis/redis_transport.ts";
import { parseRedisUrl } from "../lib/redis/url.ts";
import { loadAverage } from "./cluster_scenarios.ts";
import { cpuMeter, machineMeter } from "./proc_stats.ts";
import { startBenchRedis } from "./redis_server.ts";

/** One engine's figures. */
export interface FloorResult {
  engine: string;
  eventsPerSecond: number;
  /** Cores used by this process (the hub) and by redis-server. */
  hubCores: number;
  redisCores: number;
  machineCores: number;
  /** Updates per append (group commit). */
  perAppend: number;
  load: number;
}

async function measure(
  engine: string,
  hub: Hub,
  publishers: number,
  durationMs: number,
  redisPid?: number,
): Promise<FloorResult> {
  const padding = "x".repeat(64);
  const meter = await cpuMeter([Deno.pid, ...(redisPid ? [redisPid] : [])]);
  const machine = await machineMeter();
  const started = performance.now();
  const deadline = started + durationMs;
  let published = 0;
  await Promise.all(Array.from({ length: publishers }, async () => {
    while (performance.now() < deadline) {
      await hub.publish({ topics: ["floor"], data: `${published} ${padding}` });
      published++;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const stats = hub.stats();
  const cores = await meter.stop();
  return {
    engine,
    eventsPerSecond: published / seconds,
    hubCores: cores[0],
    redisCores: cores[1] ?? 0,
    machineCores: await machine.stop(),
    perAppend: stats.appendedEvents / Math.max(1, stats.appends),
    load: await loadAverage(),
  };
}

if (import.meta.main) {
  const flags = Object.fromEntries(
    Deno.args.map((arg) => arg.replace(/^--/, "").split("=")).map(([k, v]) => [k, v ?? "true"]),
  );
  const publishers = Number(flags.publishers ?? 100);
  const durationMs = Number(flags.duration ?? 3) * 1000;
  const engines = (flags.engines ?? "redis,kv").split(",");
  const results: FloorResult[] = [];
  for (const engine of engines) {
    if (engine === "redis") {
      const redis = await startBenchRedis(flags.appendfsync === "always" ? "always" : "everysec");
      const transport = new RedisTransport({ address: parseRedisUrl(redis.url) });
      const hub = await Hub.open(transport);
      try {
        results.push(await measure("redis", hub, publishers, durationMs, redis.pid));
      } finally {
        hub.close();
        transport.close();
        await redis.close();
      }
    } else {
      const dir = await Deno.makeTempDir({ prefix: "tidings-bench-floor-" });
      const kv = await Deno.openKv(`${dir}/floor.kv`);
      const hub = await Hub.open(new KvTransport(kv));
      try {
        results.push(await measure("kv", hub, publishers, durationMs));
      } finally {
        hub.close();
        kv.close();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
  }
  console.log(
    `| engine | events/s (${publishers} publishers, no HTTP) | hub CPU | redis CPU | machine busy | updates per append | load |`,
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const r of results) {
    console.log(
      `| ${r.engine} | ${Math.round(r.eventsPerSecond).toLocaleString("en-US")} | ${
        r.hubCores.toFixed(2)
      } | ${r.redisCores.toFixed(2)} | ${r.machineCores.toFixed(2)} | ${r.perAppend.toFixed(1)} | ${
        r.load.toFixed(2)
      } |`,
    );
  }
  Deno.exit(0);
}
