/**
 * Live-delivery scenarios (1–4): open many subscribers, make sure each one is really subscribed
 * (a warm-up event reaches every connection), then publish numbered events and measure
 * deliveries/s, publish→deliver latency, loss, duplicates, memory and CPU.
 *
 * @module
 */

import { type HistogramSnapshot, LatencyHistogram } from "./histogram.ts";
import type { SubscriptionGroup } from "./load_worker.ts";
import { describeCounts, type Outcome, OutcomeBuilder } from "./outcome.ts";
import { cpuMeter, machineMeter, treeRssBytes } from "./proc_stats.ts";
import type { PublishResult } from "./publisher.ts";
import type { RunningTarget } from "./servers.ts";
import type { LoadWorker, WorkerPool } from "./worker_pool.ts";

/** The processes a scenario drives. */
export interface Rig {
  target: RunningTarget;
  /** Subscriber processes. */
  subscribers: WorkerPool;
  /** The publisher process. */
  publisher: LoadWorker;
  /** Unique prefix for topic names in this run. */
  tag: string;
}

/** Sizes of a live scenario. */
export interface LiveSpec {
  name: string;
  subscribers: number;
  topics: number;
  /** Publishes per second over all topics; 0 = as fast as the hub accepts. */
  rate: number;
  /** Concurrent publisher connections. */
  publishers: number;
  durationMs: number;
  paddingBytes: number;
  /** Connection attempts in flight per subscriber process. */
  connectConcurrency?: number;
  /** Idle mode: no numbered events, just connect, warm up, settle and weigh the server. */
  idleSettleMs?: number;
}

interface WorkerStats {
  received: number;
  lastReceivedAt: number;
  warm: number;
  droppedEarly: number;
  open: number;
  connections: number;
  latency: HistogramSnapshot;
}

interface Verification {
  lost: number;
  connectionsWithLoss: number;
  maxLost: number;
  duplicates: number;
  connectionsWithDuplicates: number;
  outOfOrder: number;
  connectionsWithReordering: number;
  maxDisplacement: number;
  /** topic → order hash → connections that saw that order. */
  orders: Record<number, Record<number, number>>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MB = 1024 * 1024;

/** Splits `count` subscribers over topics round-robin, then over workers. */
function plan(spec: LiveSpec, rig: Rig, topicNames: string[]): SubscriptionGroup[][] {
  const workers = rig.subscribers.workers.length;
  const groups: SubscriptionGroup[][] = Array.from({ length: workers }, () => []);
  for (let topic = 0; topic < spec.topics; topic++) {
    const onTopic = Math.floor(spec.subscribers / spec.topics) +
      (topic < spec.subscribers % spec.topics ? 1 : 0);
    for (let w = 0; w < workers; w++) {
      const count = Math.floor(onTopic / workers) + (w < onTopic % workers ? 1 : 0);
      if (count > 0) {
        groups[w].push({ path: rig.target.subscribePath(topicNames[topic]), topic, count });
      }
    }
  }
  return groups;
}

async function gather(rig: Rig, reset = false): Promise<WorkerStats[]> {
  return await rig.subscribers.broadcast<WorkerStats>({ op: "stats", reset });
}

/**
 * Publishes warm-up events until every connection has received one (or the time is up).
 * Returns how many connections are warm.
 */
async function warmUp(
  rig: Rig,
  topicNames: string[],
  expected: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let warm = 0;
  while (Date.now() < deadline) {
    await rig.publisher.call({
      op: "publish",
      plan: {
        kind: rig.target.kind,
        host: rig.target.host,
        port: rig.target.port,
        token: rig.target.token,
        topics: topicNames,
        concurrency: Math.min(8, topicNames.length),
        rate: 0,
        durationMs: 10_000,
        maxCount: topicNames.length,
        paddingBytes: 0,
        warmup: true,
      },
    });
    const until = Date.now() + 1000;
    while (Date.now() < until) {
      await sleep(100);
      warm = (await gather(rig)).reduce((sum, stats) => sum + stats.warm, 0);
      if (warm >= expected) return warm;
    }
  }
  return warm;
}

/**
 * Runs a live scenario once against the rig's target. The subscriber connections stay open: the
 * caller stops the server first (so TIME_WAIT lands on the server's side, not on the client's
 * ephemeral ports), then closes them.
 *
 * @example
 * ```ts ignore
 * const outcome = await runLive(rig, { name: "fanout", subscribers: 5000, topics: 1, rate: 20,
 *   publishers: 4, durationMs: 10_000, paddingBytes: 64 });
 * ```
 */
export async function runLive(rig: Rig, spec: LiveSpec): Promise<Outcome> {
  const out = new OutcomeBuilder(spec.name, rig.target.label);
  const topicNames = Array.from({ length: spec.topics }, (_, i) => `${rig.tag}-${spec.name}-${i}`);
  const serverPid = rig.target.pid;
  const rssIdle = await treeRssBytes(serverPid);
  const bufferBytes = spec.idleSettleMs !== undefined || spec.subscribers > 5000 ? 4096 : 32_768;

  // 1. Connect everybody.
  const connectCpu = await cpuMeter([serverPid, ...rig.subscribers.pids]);
  const connectStarted = performance.now();
  const groups = plan(spec, rig, topicNames);
  const connected = await Promise.all(
    rig.subscribers.workers.map((worker, i) =>
      worker.call<{ opened: number; failed: number; errors: Record<string, number>; ms: number }>({
        op: "subscribe",
        host: rig.target.host,
        port: rig.target.port,
        groups: groups[i],
        concurrency: spec.connectConcurrency ?? 64,
        bufferBytes,
        timeoutMs: 60_000,
      })
    ),
  );
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  const [serverConnectCpu, ...clientConnectCpu] = await connectCpu.stop();
  const opened = connected.reduce((sum, c) => sum + c.opened, 0);
  const failedConnections = connected.reduce((sum, c) => sum + c.failed, 0);
  out.add("connections open", opened, "", "none");
  out.add("time to connect all", connectSeconds, "s", "lower", 2);
  out.add("server CPU while connecting", serverConnectCpu, "cores", "none", 2);
  out.add(
    "client CPU while connecting (busiest process)",
    Math.max(...clientConnectCpu),
    "cores",
    "none",
    2,
  );
  if (failedConnections > 0) {
    const errors: Record<string, number> = {};
    for (const c of connected) {
      for (const [k, v] of Object.entries(c.errors)) errors[k] = (errors[k] ?? 0) + v;
    }
    out.fail(
      `${failedConnections} of ${spec.subscribers} connections failed: ${describeCounts(errors)}`,
    );
  }

  // 2. Every connection must see a warm-up event before measuring.
  const warm = await warmUp(rig, topicNames, opened, Math.max(10_000, opened));
  if (warm < opened) out.fail(`only ${warm} of ${opened} connections received the warm-up event`);
  await gather(rig, true);

  if (spec.idleSettleMs !== undefined) {
    await sleep(spec.idleSettleMs);
    const rssLoaded = await treeRssBytes(serverPid);
    out.add("server RSS idle (before connecting)", rssIdle / MB, "MB", "lower", 1);
    out.add("server RSS with connections", rssLoaded / MB, "MB", "lower", 1);
    out.add(
      "RSS per idle connection",
      opened > 0 ? (rssLoaded - rssIdle) / opened / 1024 : undefined,
      "KB",
      "lower",
      2,
    );
    const stillOpen = (await gather(rig)).reduce((sum, stats) => sum + stats.open, 0);
    if (stillOpen < opened) {
      out.fail(`${opened - stillOpen} connections closed during the idle period`);
    }
    await attachServerLog(rig, out);
    return out.outcome;
  }

  // 3. Publish and measure.
  const meter = await cpuMeter([serverPid, rig.publisher.pid, ...rig.subscribers.pids]);
  const machine = await machineMeter();
  const maxCount = spec.rate > 0 ? Math.round((spec.rate * spec.durationMs) / 1000) : 50_000_000;
  const published = await rig.publisher.call<PublishResult>({
    op: "publish",
    plan: {
      kind: rig.target.kind,
      host: rig.target.host,
      port: rig.target.port,
      token: rig.target.token,
      topics: topicNames,
      concurrency: spec.publishers,
      rate: spec.rate,
      durationMs: spec.durationMs,
      maxCount,
      paddingBytes: spec.paddingBytes,
    },
  });
  const rssLoaded = await treeRssBytes(serverPid);

  // 4. Drain: wait until everything expected arrived, or nothing moves for 2 s (at most 20 s).
  const subscribersPerTopic = new Array<number>(spec.topics).fill(0);
  for (const list of groups) {
    for (const group of list) subscribersPerTopic[group.topic] += group.count;
  }
  const expected = published.okPerTopic.reduce(
    (sum, ok, topic) => sum + ok * subscribersPerTopic[topic],
    0,
  );
  let stats = await gather(rig);
  let received = stats.reduce((sum, s) => sum + s.received, 0);
  const drainDeadline = Date.now() + 20_000;
  let lastProgress = Date.now();
  while (received < expected && Date.now() < drainDeadline && Date.now() - lastProgress < 2000) {
    await sleep(100);
    stats = await gather(rig);
    const now = stats.reduce((sum, s) => sum + s.received, 0);
    if (now > received) lastProgress = Date.now();
    received = now;
  }
  const cpu = await meter.stop();
  const machineBusy = await machine.stop();
  const lastReceivedAt = Math.max(...stats.map((s) => s.lastReceivedAt));
  const windowSeconds = Math.max(0.001, (lastReceivedAt - published.startedAt) / 1000);
  const latency = new LatencyHistogram();
  for (const s of stats) latency.merge(s.latency);
  const verdicts = await rig.subscribers.broadcast<Verification>({
    op: "verify",
    expectedPerTopic: published.okPerTopic,
  });
  const lost = verdicts.reduce((sum, v) => sum + v.lost, 0);
  const duplicates = verdicts.reduce((sum, v) => sum + v.duplicates, 0);
  const dropped = stats.reduce((sum, s) => sum + s.droppedEarly, 0);

  const publishSeconds = (published.endedAt - published.startedAt) / 1000;
  out.add("publishes accepted/s", published.ok / publishSeconds, "/s", "higher");
  out.add("deliveries/s", received / windowSeconds, "/s", "higher");
  out.add("latency p50", latency.percentile(50), "ms", "lower", 2);
  out.add("latency p99", latency.percentile(99), "ms", "lower", 2);
  out.add("latency max", latency.maxMs, "ms", "lower", 1);
  const publishLatency = new LatencyHistogram();
  publishLatency.merge(published.latency);
  out.add("publish request p50", publishLatency.percentile(50), "ms", "lower", 2);
  out.add("publish request p99", publishLatency.percentile(99), "ms", "lower", 2);
  out.add("events delivered", received, "", "none");
  out.add("events lost", lost, "", "lower");
  out.add("events duplicated", duplicates, "", "lower");
  const outOfOrder = verdicts.reduce((sum, v) => sum + v.outOfOrder, 0);
  out.add("events out of order", outOfOrder, "", "lower");
  out.add("server RSS under load", rssLoaded / MB, "MB", "lower", 1);
  out.add("server CPU", cpu[0], "cores", "none", 2);
  out.add("client CPU (publisher)", cpu[1], "cores", "none", 2);
  out.add(
    "client CPU (subscribers, busiest process)",
    Math.max(...cpu.slice(2)),
    "cores",
    "none",
    2,
  );
  out.add(
    "client CPU (subscribers, all processes)",
    cpu.slice(2).reduce((x, y) => x + y, 0),
    "cores",
    "none",
    2,
  );
  const others = Math.max(0, machineBusy - cpu.reduce((x, y) => x + y, 0));
  out.add("other processes on the machine", others, "cores", "none", 2);

  if (published.failed > 0) {
    out.fail(`${published.failed} publishes failed: ${describeCounts(published.errors)}`);
  }
  if (lost > 0) {
    const affected = verdicts.reduce((sum, v) => sum + v.connectionsWithLoss, 0);
    const worst = Math.max(...verdicts.map((v) => v.maxLost));
    out.fail(`${lost} events lost over ${affected} connections (worst connection missed ${worst})`);
  }
  if (duplicates > 0) {
    const affected = verdicts.reduce((sum, v) => sum + v.connectionsWithDuplicates, 0);
    out.fail(`${duplicates} events duplicated over ${affected} connections`);
  }
  // Connections that saw another order than the most common one on their topic.
  const merged: Record<number, Record<number, number>> = {};
  for (const v of verdicts) {
    for (const [topic, hashes] of Object.entries(v.orders)) {
      const into = merged[Number(topic)] ??= {};
      for (const [hash, count] of Object.entries(hashes)) {
        into[Number(hash)] = (into[Number(hash)] ?? 0) + count;
      }
    }
  }
  let divergent = 0;
  for (const hashes of Object.values(merged)) {
    const counts = Object.values(hashes);
    divergent += counts.reduce((a, b) => a + b, 0) - Math.max(...counts);
  }
  out.add("connections with a different order than their topic's majority", divergent, "", "lower");
  if (divergent > 0 && lost === 0) {
    out.fail(
      `${divergent} connections received the events of their topic in a different order than the others`,
    );
  }
  if (outOfOrder > 0) {
    const affected = verdicts.reduce((sum, v) => sum + v.connectionsWithReordering, 0);
    const worst = Math.max(...verdicts.map((v) => v.maxDisplacement));
    out.note(
      `${outOfOrder} events arrived after a later one, on ${affected} connections (worst: ${worst} places late); ` +
        `${spec.publishers} concurrent publishers can legitimately reorder by up to ~${spec.publishers}`,
    );
    if (worst > spec.publishers * 2) {
      out.note(
        `reordering of up to ${worst} places is more than ${spec.publishers} concurrent publishers explain ` +
          `unless a publish waited long (publish request max ${
            publishLatency.maxMs.toFixed(0)
          } ms)`,
      );
    }
  }
  if (dropped > 0) {
    out.fail(`${dropped} subscriber connections were closed by the server during the run`);
  }
  if (published.late > published.ok * 0.05 && spec.rate > 0) {
    out.note(
      `${published.late} of ${published.ok} publishes left more than 5 ms late (publisher could not keep the rate)`,
    );
  }
  const clientBusy = Math.max(...cpu.slice(1));
  const total = cpu.reduce((sum, value) => sum + value, 0);
  if (clientBusy > 0.9) {
    out.note(
      `a client process used ${clientBusy.toFixed(2)} cores: the client may be the bottleneck`,
    );
  }
  if (machineBusy > navigator.hardwareConcurrency * 0.9) {
    out.note(
      `machine saturated: ${
        machineBusy.toFixed(2)
      } of ${navigator.hardwareConcurrency} cores busy ` +
        `(server + bench clients ${total.toFixed(2)})`,
    );
  }
  if (others > 0.15) {
    out.note(`other processes used ${others.toFixed(2)} cores during the measurement`);
  }
  await attachServerLog(rig, out);
  return out.outcome;
}

/** On failures, quotes the end of the server's log beside them. */
export async function attachServerLog(rig: Rig, out: OutcomeBuilder): Promise<void> {
  if (out.outcome.failures.length === 0) return;
  const tail = await rig.target.logTail(3);
  if (tail) out.note(`last server log lines: ${tail.replaceAll("\n", " ⏎ ").slice(0, 600)}`);
}
