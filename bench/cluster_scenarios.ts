/**
 * The cluster scenarios of `deno task bench:cluster`: several tidings processes on one machine,
 * sharing one Deno KV file (woken by the file watch of `lib/kv/head_watch.ts`) or one Redis
 * (`TIDINGS_REDIS_URL`, woken by `XREAD BLOCK`), loaded over loopback by the bench's raw clients.
 *
 * - **delivery**: one publisher on node 0 at a fixed rate, subscribers on every node; the
 *   publish→deliver latency on node 0 ("same node") and on the others ("other nodes").
 * - **durable**: publishers as fast as the hub accepts, spread over the nodes; events/s answered
 *   200 (on Redis, the log is then checked to hold exactly them, contiguous).
 * - **catch-up**: a subscriber on node 0 learns an id, disconnects, `behind` events are published
 *   on node 0, and a subscriber resumes on node 1 with `Last-Event-ID`: time until all arrived.
 *
 * Every delivery is checked by the publisher's per-topic sequence numbers: lost, duplicated and
 * out-of-order events are failures (one publisher connection publishes in order, so the exact
 * order is known).
 *
 * @module
 */

import { type HistogramSnapshot, LatencyHistogram } from "./histogram.ts";
import { describeCounts, type Outcome, OutcomeBuilder } from "./outcome.ts";
import { cpuMeter, machineMeter } from "./proc_stats.ts";
import type { PublishPlan, PublishResult } from "./publisher.ts";
import { type BenchRedis, startBenchRedis } from "./redis_server.ts";
import { type RunningTarget, startFloor, startTidings } from "./servers.ts";
import { type SharedTally, SseSubscriber } from "./sse_subscriber.ts";
import type { LoadWorker } from "./worker_pool.ts";
import { RedisClient } from "../lib/redis/client.ts";
import { parseRedisUrl } from "../lib/redis/url.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How the nodes share the log. `floor` is no hub: `bench/floor.ts`'s bare `Deno.serve` server,
 * which reads each publish's form and answers 200 without storing it — the HTTP floor that the
 * durable scenario's figures are read against.
 */
export type Engine = "kv" | "redis" | "floor";

/** Several tidings processes sharing one log. */
export interface Cluster {
  /** `kv×2`, `redis×3`… */
  label: string;
  engine: Engine;
  nodes: RunningTarget[];
  redis?: BenchRedis;
  stop(): Promise<void>;
}

/** Options of {@link startCluster}. */
export interface ClusterSpec {
  engine: Engine;
  nodes: number;
  /** First port; node i listens on `port + i`. */
  port: number;
  /** Redis `appendfsync`. */
  appendfsync: "always" | "everysec";
  /** Extra server environment. */
  env?: Record<string, string>;
  /** Opens the V8 inspector of node 0 on this port (for CPU profiles). */
  inspectPort?: number;
}

/**
 * Starts the nodes one after another (each `deno serve`, one isolate): on one KV file in a temp
 * dir, or on a fresh `redis-server`.
 *
 * @example
 * ```ts ignore
 * const cluster = await startCluster({ engine: "redis", nodes: 3, port: 18600, appendfsync: "everysec" });
 * await cluster.stop();
 * ```
 */
export async function startCluster(spec: ClusterSpec): Promise<Cluster> {
  if (spec.engine === "floor") {
    const nodes: RunningTarget[] = [];
    const stop = async () => {
      for (const node of nodes) await node.stop();
    };
    try {
      for (let i = 0; i < spec.nodes; i++) {
        // Publishes the Mercure way (a form to /.well-known/mercure, answered 200).
        nodes.push({ ...await startFloor(spec.port + i, "deno-serve"), kind: "tidings" });
      }
    } catch (error) {
      await stop();
      throw error;
    }
    return { label: `floor×${spec.nodes}`, engine: spec.engine, nodes, stop };
  }
  const dir = await Deno.makeTempDir({ prefix: "tidings-bench-cluster-" });
  const redis = spec.engine === "redis" ? await startBenchRedis(spec.appendfsync) : undefined;
  const nodes: RunningTarget[] = [];
  const stop = async () => {
    for (const node of nodes) await node.stop();
    await redis?.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    for (let i = 0; i < spec.nodes; i++) {
      const env: Record<string, string> = redis
        ? { TIDINGS_REDIS_URL: redis.url, TIDINGS_KV_PATH: `${dir}/node-${i}.kv` }
        : { TIDINGS_KV_PATH: `${dir}/shared.kv` };
      nodes.push(
        await startTidings({
          port: spec.port + i,
          isolates: 1,
          env: { ...env, ...spec.env },
          logPath: `${dir}/node-${i}.log`,
          denoFlags: i === 0 && spec.inspectPort
            ? [`--inspect=127.0.0.1:${spec.inspectPort}`]
            : undefined,
        }),
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { label: `${spec.engine}×${spec.nodes}`, engine: spec.engine, nodes, redis, stop };
}

/** The client processes a scenario drives. */
export interface ClusterRig {
  cluster: Cluster;
  /** Publishes (and in the durable scenario, so do the two subscriber processes). */
  publisher: LoadWorker;
  /** Subscribers on node 0. */
  sameNode: LoadWorker;
  /** Subscribers on every other node. */
  otherNodes: LoadWorker;
  /** Unique prefix of topic names. */
  tag: string;
}

/** The 1-minute load average (`uptime`'s first figure). */
export async function loadAverage(): Promise<number> {
  // /proc files report size 0, so read them through `cat` as proc_stats.ts does.
  const output = await new Deno.Command("cat", { args: ["/proc/loadavg"], stdout: "piped" })
    .output().catch(() => undefined);
  return Number(new TextDecoder().decode(output?.stdout).split(" ")[0]) || 0;
}

function plan(node: RunningTarget, topics: string[], extra: Partial<PublishPlan>): PublishPlan {
  return {
    kind: "tidings",
    host: node.host,
    port: node.port,
    token: node.token,
    topics,
    concurrency: 1,
    rate: 0,
    durationMs: 60_000,
    maxCount: 1,
    paddingBytes: 64,
    ...extra,
  };
}

interface WorkerStats {
  received: number;
  warm: number;
  droppedEarly: number;
  connections: number;
  latency: HistogramSnapshot;
}

interface Verification {
  lost: number;
  duplicates: number;
  outOfOrder: number;
  maxDisplacement: number;
  connections: number;
  orders: Record<number, Record<number, number>>;
}

/** The CPU of the servers (and Redis) and the machine over a measured window. */
async function meters(cluster: Cluster) {
  const pids = [
    ...cluster.nodes.map((node) => node.pid),
    ...(cluster.redis ? [cluster.redis.pid] : []),
  ];
  const cpu = await cpuMeter(pids);
  const machine = await machineMeter();
  const loadBefore = await loadAverage();
  return {
    async stop(out: OutcomeBuilder, prefix = "") {
      const cores = await cpu.stop();
      const busy = await machine.stop();
      const nodes = cores.slice(0, cluster.nodes.length);
      out.add(`${prefix}tidings CPU, busiest node`, Math.max(...nodes), "cores", "none", 2);
      out.add(
        `${prefix}tidings CPU, all nodes`,
        nodes.reduce((a, b) => a + b, 0),
        "cores",
        "none",
        2,
      );
      if (cluster.redis) out.add(`${prefix}redis-server CPU`, cores.at(-1), "cores", "none", 2);
      out.add(`${prefix}machine busy`, busy, "cores", "none", 2);
      out.add(`${prefix}load average (1 min), start`, loadBefore, "", "none", 2);
      out.add(`${prefix}load average (1 min), end`, await loadAverage(), "", "none", 2);
    },
  };
}

/** Sizes of {@link runDelivery}. */
export interface DeliverySpec {
  /** Subscribers per node. */
  subscribersPerNode: number;
  /** Publishes per second (one publisher connection on node 0). */
  rate: number;
  durationMs: number;
}

/**
 * One publisher on node 0, subscribers on every node: latency on the same node and on the others.
 *
 * @example
 * ```ts ignore
 * const outcome = await runDelivery(rig, "cross-node", { subscribersPerNode: 20, rate: 200, durationMs: 10_000 });
 * ```
 */
export async function runDelivery(
  rig: ClusterRig,
  scenario: string,
  spec: DeliverySpec,
): Promise<Outcome> {
  const { cluster } = rig;
  const out = new OutcomeBuilder(scenario, cluster.label);
  const topic = `${rig.tag}-${scenario}`;
  const [first, ...others] = cluster.nodes;
  const subscribe = (worker: LoadWorker, node: RunningTarget) =>
    worker.call<{ opened: number; failed: number; errors: Record<string, number> }>({
      op: "subscribe",
      host: node.host,
      port: node.port,
      groups: [{ path: node.subscribePath(topic), topic: 0, count: spec.subscribersPerNode }],
      concurrency: 16,
      bufferBytes: 16_384,
      timeoutMs: 15_000,
    });
  const opened = [
    await subscribe(rig.sameNode, first),
    ...await Promise.all(others.map((node) => subscribe(rig.otherNodes, node))),
  ];
  for (const result of opened) {
    if (result.failed > 0) {
      out.fail(`${result.failed} subscriptions failed: ${describeCounts(result.errors)}`);
    }
  }
  const workers = [rig.sameNode, rig.otherNodes];
  const stats = () => Promise.all(workers.map((w) => w.call<WorkerStats>({ op: "stats" })));
  // Warm-up: every connection has seen an event, so every subscription is registered.
  const warmDeadline = Date.now() + 20_000;
  let warm = false;
  while (!warm && Date.now() < warmDeadline) {
    await rig.publisher.call({
      op: "publish",
      plan: plan(first, [topic], { warmup: true }),
    });
    const until = Date.now() + 1000;
    while (Date.now() < until) {
      const now = await stats();
      if (now.every((s) => s.warm === s.connections)) {
        warm = true;
        break;
      }
      await sleep(20);
    }
  }
  if (!warm) out.fail("the warm-up event did not reach every connection in 20 s");
  await Promise.all(workers.map((w) => w.call({ op: "stats", reset: true })));
  const meter = await meters(cluster);
  const published = await rig.publisher.call<PublishResult>({
    op: "publish",
    plan: plan(first, [topic], {
      rate: spec.rate,
      durationMs: spec.durationMs,
      maxCount: Math.ceil((spec.rate * spec.durationMs) / 1000),
    }),
  });
  const connections = opened.map((r) => r.opened);
  const expected = [
    published.ok * connections[0],
    published.ok * connections.slice(1).reduce((a, b) => a + b, 0),
  ];
  const deliveryDeadline = Date.now() + 10_000;
  let final = await stats();
  while (final.some((s, i) => s.received < expected[i]) && Date.now() < deliveryDeadline) {
    await sleep(20);
    final = await stats();
  }
  await meter.stop(out);
  if (published.failed > 0) {
    out.fail(`${published.failed} publishes failed: ${describeCounts(published.errors)}`);
  }
  const checks = await Promise.all(
    workers.map((w) => w.call<Verification>({ op: "verify", expectedPerTopic: [published.ok] })),
  );
  const hashes = new Set<number>();
  checks.forEach((check, i) => {
    const where = i === 0 ? "same node" : "other nodes";
    if (check.lost > 0) out.fail(`${where}: ${check.lost} events lost`);
    if (check.duplicates > 0) out.fail(`${where}: ${check.duplicates} events duplicated`);
    if (check.outOfOrder > 0) {
      out.fail(
        `${where}: ${check.outOfOrder} events out of order (by up to ${check.maxDisplacement})`,
      );
    }
    for (const hash of Object.keys(check.orders[0] ?? {})) hashes.add(Number(hash));
  });
  if (hashes.size > 1) out.fail(`subscribers saw ${hashes.size} different orders`);
  const same = new LatencyHistogram();
  same.merge(final[0].latency);
  const other = new LatencyHistogram();
  other.merge(final[1].latency);
  const all = new LatencyHistogram();
  all.merge(final[0].latency);
  all.merge(final[1].latency);
  const publishLatency = new LatencyHistogram();
  publishLatency.merge(published.latency);
  out.add("subscribers per node", spec.subscribersPerNode, "", "none");
  out.add("events published (one publisher on node 0)", published.ok, "", "none");
  out.add("deliveries checked", final[0].received + final[1].received, "", "none");
  out.add("publish→deliver p50, other nodes", other.percentile(50), "ms", "lower", 2);
  out.add("publish→deliver p99, other nodes", other.percentile(99), "ms", "lower", 2);
  out.add("publish→deliver max, other nodes", other.maxMs, "ms", "lower", 2);
  out.add("publish→deliver p50, same node", same.percentile(50), "ms", "lower", 2);
  out.add("publish→deliver p99, same node", same.percentile(99), "ms", "lower", 2);
  out.add("publish→deliver p99, every subscriber", all.percentile(99), "ms", "lower", 2);
  out.add(
    "publish request p50 (answered once durable)",
    publishLatency.percentile(50),
    "ms",
    "lower",
    2,
  );
  out.add("publish request p99", publishLatency.percentile(99), "ms", "lower", 2);
  if (published.late > published.ok / 100) {
    out.note(`${published.late} publishes left more than 5 ms after their schedule`);
  }
  await Promise.all(workers.map((w) => w.call({ op: "close" })));
  return out.outcome;
}

/** Reads the head and checks the global stream holds `from..head` with no gap. */
async function redisLogCheck(redis: BenchRedis): Promise<{ head: number; contiguous: boolean }> {
  const client = new RedisClient({ address: parseRedisUrl(redis.url) });
  try {
    const [head, length, firstEntry, lastEntry] = await client.pipeline([
      ["GET", "tidings:head"],
      ["XLEN", "tidings:log"],
      ["XRANGE", "tidings:log", "-", "+", "COUNT", 1],
      ["XREVRANGE", "tidings:log", "+", "-", "COUNT", 1],
    ]) as [string | null, number, [string, string[]][], [string, string[]][]];
    const seqOf = (entries: [string, string[]][]) =>
      entries.length ? Number(entries[0][0].split("-")[0]) : 0;
    const first = seqOf(firstEntry);
    const last = seqOf(lastEntry);
    const headSeq = Number(head ?? 0);
    return {
      head: headSeq,
      contiguous: last === headSeq && (length === 0 || length === last - first + 1),
    };
  } finally {
    client.close();
  }
}

/**
 * Publishers as fast as the hub accepts, spread over the client processes and the nodes.
 *
 * @example
 * ```ts ignore
 * const outcome = await runDurable(rig, 100, 5000, 1);
 * ```
 */
export async function runClusterDurable(
  rig: ClusterRig,
  publishers: number,
  durationMs: number,
  topicCount: number,
): Promise<Outcome> {
  const { cluster } = rig;
  const out = new OutcomeBuilder("durable", cluster.label);
  const topics = Array.from({ length: topicCount }, (_, i) => `${rig.tag}-durable-${i}`);
  const processes = [rig.publisher, rig.sameNode, rig.otherNodes];
  // One plan per (process, node) pair, so every node and every process gets a share.
  const pairs = Math.max(processes.length, cluster.nodes.length);
  const before = cluster.redis ? await redisLogCheck(cluster.redis) : undefined;
  const meter = await meters(cluster);
  const clientCpu = await cpuMeter(processes.map((p) => p.pid));
  const results = await Promise.all(
    Array.from({ length: Math.min(pairs, publishers) }, (_, i) => {
      const share = Math.floor(publishers / Math.min(pairs, publishers)) +
        (i < publishers % Math.min(pairs, publishers) ? 1 : 0);
      return processes[i % processes.length].call<PublishResult>({
        op: "publish",
        plan: plan(cluster.nodes[i % cluster.nodes.length], topics, {
          concurrency: share,
          durationMs,
          maxCount: 50_000_000,
        }),
      });
    }),
  );
  await meter.stop(out);
  out.add("client CPU, busiest process", Math.max(...await clientCpu.stop()), "cores", "none", 2);
  const ok = results.reduce((sum, r) => sum + r.ok, 0);
  const failed = results.reduce((sum, r) => sum + r.failed, 0);
  const seconds = (Math.max(...results.map((r) => r.endedAt)) -
    Math.min(...results.map((r) => r.startedAt))) / 1000;
  const latency = new LatencyHistogram();
  for (const r of results) latency.merge(r.latency);
  out.add(`${publishers} publishers: events/s answered 200`, ok / seconds, "/s", "higher");
  out.add(
    `${publishers} publishers: publish latency p50`,
    latency.percentile(50),
    "ms",
    "lower",
    2,
  );
  out.add(
    `${publishers} publishers: publish latency p99`,
    latency.percentile(99),
    "ms",
    "lower",
    2,
  );
  if (failed > 0) {
    const errors: Record<string, number> = {};
    for (const r of results) {
      for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    }
    out.fail(`${failed} publishes failed: ${describeCounts(errors)}`);
  }
  if (cluster.redis && before) {
    const after = await redisLogCheck(cluster.redis);
    if (after.head - before.head !== ok && failed === 0) {
      out.fail(
        `the log grew by ${after.head - before.head} positions for ${ok} accepted publishes`,
      );
    }
    if (!after.contiguous) out.fail("the Redis log is not contiguous up to its head");
  }
  return out.outcome;
}

function newTally(): SharedTally {
  return {
    histogram: new LatencyHistogram(),
    received: 0,
    lastReceivedAt: 0,
    warm: 0,
    droppedEarly: 0,
  };
}

/**
 * Learns an id on node 0, publishes `behind` events there, resumes on node 1 with
 * `Last-Event-ID` and times the catch-up; `rounds` times, median reported.
 *
 * @example
 * ```ts ignore
 * const outcome = await runClusterCatchUp(rig, 1000, 5);
 * ```
 */
export async function runClusterCatchUp(
  rig: ClusterRig,
  behind: number,
  rounds: number,
): Promise<Outcome> {
  const { cluster } = rig;
  const out = new OutcomeBuilder("catchup", cluster.label);
  const [origin, resume] = cluster.nodes;
  const times: number[] = [];
  const firstEvent: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const topic = `${rig.tag}-catchup-${round}`;
    const watcherTally = newTally();
    const watcher = new SseSubscriber(0, watcherTally, 16_384, true);
    await watcher.open(origin.host, origin.port, origin.subscribePath(topic), undefined);
    const warmDeadline = Date.now() + 10_000;
    while (watcherTally.warm === 0 && Date.now() < warmDeadline) {
      await rig.publisher.call({ op: "publish", plan: plan(origin, [topic], { warmup: true }) });
      const until = Date.now() + 500;
      while (watcherTally.warm === 0 && Date.now() < until) await sleep(5);
    }
    watcher.close();
    const anchor = watcher.lastId;
    if (watcherTally.warm === 0 || anchor === undefined) {
      out.fail(`round ${round}: the warm-up event never arrived, so there is no id to resume from`);
      continue;
    }
    const published = await rig.publisher.call<PublishResult>({
      op: "publish",
      plan: plan(origin, [topic], { maxCount: behind }),
    });
    if (published.ok < behind) {
      out.fail(
        `round ${round}: ${published.ok} of ${behind} accepted: ${
          describeCounts(published.errors)
        }`,
      );
    }
    const tally = newTally();
    const subscriber = new SseSubscriber(0, tally, 65_536, false);
    const started = performance.timeOrigin + performance.now();
    try {
      await subscriber.open(resume.host, resume.port, resume.subscribePath(topic), anchor);
    } catch (error) {
      out.fail(`round ${round}: resume request failed: ${(error as Error).message}`);
      subscriber.close();
      continue;
    }
    const deadline = Date.now() + 10_000;
    while (subscriber.unique < published.ok && Date.now() < deadline) await sleep(1);
    subscriber.close();
    if (subscriber.unique < published.ok) {
      out.fail(`round ${round}: got ${subscriber.unique} of ${published.ok} missed events in 10 s`);
      continue;
    }
    if (subscriber.duplicates > 0) out.fail(`round ${round}: ${subscriber.duplicates} duplicated`);
    if (subscriber.outOfOrder > 0) {
      out.fail(`round ${round}: ${subscriber.outOfOrder} out of order`);
    }
    times.push(tally.lastReceivedAt - started);
    if (tally.firstReceivedAt) firstEvent.push(tally.firstReceivedAt - started);
  }
  const median = (values: number[]) =>
    values.length ? values.sort((a, b) => a - b)[Math.floor(values.length / 2)] : undefined;
  out.add(
    `catch-up of ${behind} events on node 1 (median of ${times.length})`,
    median(times),
    "ms",
    "lower",
    1,
  );
  out.add("catch-up, worst", times.length ? Math.max(...times) : undefined, "ms", "lower", 1);
  out.add("first missed event after", median(firstEvent), "ms", "lower", 2);
  out.add("load average (1 min)", await loadAverage(), "", "none", 2);
  return out.outcome;
}
