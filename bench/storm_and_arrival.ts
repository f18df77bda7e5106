/**
 * Scenario 7 (a reconnect storm: many subscribers arrive at once with `Last-Event-ID`, each missed
 * the same events; time until the last one has them all) and scenario 8 (fresh subscribers
 * arriving at once: time until every one has its `200` response head).
 *
 * Both open every connection at the same moment (one connect attempt in flight per subscriber), so
 * whatever a server does before it writes a response head decides the figure: a server that admits
 * slowly lets its listen queue overflow, and the kernel then makes clients wait out SYN
 * retransmits (1 s, 3 s, …).
 *
 * @module
 */

import type { Rig } from "./live.ts";
import { describeCounts, type Outcome, OutcomeBuilder } from "./outcome.ts";
import { cpuMeter, treeRssBytes } from "./proc_stats.ts";
import type { PublishPlan, PublishResult } from "./publisher.ts";
import { type SharedTally, SseSubscriber } from "./sse_subscriber.ts";
import { LatencyHistogram } from "./histogram.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nowMs = () => performance.timeOrigin + performance.now();
const MB = 1024 * 1024;

interface Connected {
  opened: number;
  failed: number;
  errors: Record<string, number>;
  ms: number;
}

interface WorkerStats {
  received: number;
  lastReceivedAt: number;
  open: number;
}

interface Verification {
  lost: number;
  connectionsWithLoss: number;
  duplicates: number;
  outOfOrder: number;
}

function publishPlan(rig: Rig, topic: string, count: number, warmup: boolean): PublishPlan {
  return {
    kind: rig.target.kind,
    host: rig.target.host,
    port: rig.target.port,
    token: rig.target.token,
    topics: [topic],
    rate: 0,
    paddingBytes: warmup ? 0 : 64,
    concurrency: 1,
    durationMs: 60_000,
    maxCount: count,
    warmup,
  };
}

/** Every subscriber process opens its share of `count` connections, all at once. */
async function connectAll(
  rig: Rig,
  path: string,
  count: number,
  lastEventId: string | undefined,
  concurrency: number,
): Promise<Connected[]> {
  const workers = rig.subscribers.workers;
  return await Promise.all(workers.map((worker, i) => {
    const share = Math.floor(count / workers.length) + (i < count % workers.length ? 1 : 0);
    return worker.call<Connected>({
      op: "subscribe",
      host: rig.target.host,
      port: rig.target.port,
      groups: share > 0 ? [{ path, topic: 0, count: share }] : [],
      concurrency: Math.max(1, concurrency > 0 ? Math.min(concurrency, share) : share),
      bufferBytes: 16_384,
      lastEventId,
      timeoutMs: 60_000,
    });
  }));
}

function reportConnections(out: OutcomeBuilder, connected: Connected[], wanted: number): number {
  const opened = connected.reduce((sum, c) => sum + c.opened, 0);
  const failed = connected.reduce((sum, c) => sum + c.failed, 0);
  out.add("connections open", opened, "", "none");
  if (failed > 0) {
    const errors: Record<string, number> = {};
    for (const c of connected) {
      for (const [k, v] of Object.entries(c.errors)) errors[k] = (errors[k] ?? 0) + v;
    }
    out.fail(`${failed} of ${wanted} connections failed: ${describeCounts(errors)}`);
  }
  return opened;
}

/** The id of a fresh event on `topic`, learnt by a subscriber that saw it arrive. */
async function anchorId(rig: Rig, topic: string): Promise<string | undefined> {
  const tally: SharedTally = {
    histogram: new LatencyHistogram(),
    received: 0,
    lastReceivedAt: 0,
    warm: 0,
    droppedEarly: 0,
  };
  const watcher = new SseSubscriber(0, tally, 16_384, true);
  await watcher.open(rig.target.host, rig.target.port, rig.target.subscribePath(topic), undefined);
  const deadline = Date.now() + 10_000;
  while (tally.warm === 0 && Date.now() < deadline) {
    await rig.publisher.call({ op: "publish", plan: publishPlan(rig, topic, 1, true) });
    const until = Date.now() + 500;
    while (tally.warm === 0 && Date.now() < until) await sleep(5);
  }
  watcher.close();
  return tally.warm > 0 ? watcher.lastId : undefined;
}

/**
 * Scenario 7: publishes one event and learns its id, publishes `events` more, then opens
 * `subscribers` connections at once, each resuming after that id; times until every connection
 * has every missed event, and checks that none is lost, duplicated or reordered. With `restart`
 * (scenario `storm-restart`), the server is restarted on the same store before they come back.
 *
 * @example
 * ```ts ignore
 * const outcome = await runStorm(rig, 10_000, 100);
 * ```
 */
export async function runStorm(
  rig: Rig,
  subscribers: number,
  events: number,
  concurrency = 0,
  restart = false,
): Promise<Outcome> {
  const out = new OutcomeBuilder(restart ? "storm-restart" : "storm", rig.target.label);
  const topic = `${rig.tag}-storm`;
  const path = rig.target.subscribePath(topic);
  const anchor = await anchorId(rig, topic);
  if (anchor === undefined) {
    out.fail("the warm-up event never arrived, so there is no id to resume from");
    return out.outcome;
  }
  const published = await rig.publisher.call<PublishResult>({
    op: "publish",
    plan: publishPlan(rig, topic, events, false),
  });
  if (published.ok < events) {
    out.fail(
      `only ${published.ok} of ${events} publishes accepted: ${describeCounts(published.errors)}`,
    );
  }
  await sleep(200);
  if (restart) {
    // A deploy: the server goes away with everything in memory and comes back on the same store.
    if (!rig.target.restart) {
      out.note("this target cannot restart on the same store (nchan keeps messages in memory)");
      return out.outcome;
    }
    rig.target = await rig.target.restart();
  }
  const rssBefore = await treeRssBytes(rig.target.pid);
  const meter = await cpuMeter([rig.target.pid, ...rig.subscribers.pids]);
  const started = nowMs();
  const connected = await connectAll(rig, path, subscribers, anchor, concurrency);
  const headsAt = nowMs();
  const opened = reportConnections(out, connected, subscribers);
  const expected = opened * published.ok;
  let stats = await rig.subscribers.broadcast<WorkerStats>({ op: "stats" });
  let received = stats.reduce((sum, s) => sum + s.received, 0);
  const deadline = Date.now() + 60_000;
  while (received < expected && Date.now() < deadline) {
    await sleep(20);
    stats = await rig.subscribers.broadcast<WorkerStats>({ op: "stats" });
    received = stats.reduce((sum, s) => sum + s.received, 0);
  }
  const [serverCpu, ...clientCpu] = await meter.stop();
  const rssAfter = await treeRssBytes(rig.target.pid);
  const lastAt = Math.max(...stats.map((s) => s.lastReceivedAt));
  out.add("time until every response head", (headsAt - started) / 1000, "s", "lower", 2);
  out.add(
    `time until the last has all ${published.ok}`,
    received >= expected ? (lastAt - started) / 1000 : undefined,
    "s",
    "lower",
    2,
  );
  out.add("events delivered", received, "", "none");
  const verdicts = await rig.subscribers.broadcast<Verification>({
    op: "verify",
    expectedPerTopic: [published.ok],
  });
  const lost = verdicts.reduce((sum, v) => sum + v.lost, 0);
  const duplicates = verdicts.reduce((sum, v) => sum + v.duplicates, 0);
  const outOfOrder = verdicts.reduce((sum, v) => sum + v.outOfOrder, 0);
  out.add("events lost", lost, "", "lower");
  out.add("events duplicated", duplicates, "", "lower");
  out.add("events out of order", outOfOrder, "", "lower");
  out.add("server CPU", serverCpu, "cores", "none", 2);
  out.add("client CPU (subscribers, busiest process)", Math.max(...clientCpu), "cores", "none", 2);
  out.add("server RSS growth", (rssAfter - rssBefore) / MB, "MB", "lower", 1);
  if (lost > 0) {
    const affected = verdicts.reduce((sum, v) => sum + v.connectionsWithLoss, 0);
    out.fail(`${lost} events lost over ${affected} connections`);
  }
  if (duplicates > 0) out.fail(`${duplicates} events duplicated`);
  // One publisher, one event at a time: any reordering is the hub's.
  if (outOfOrder > 0) out.fail(`${outOfOrder} events arrived after a later one`);
  return out.outcome;
}

/**
 * Scenario 8: opens `subscribers` fresh connections at once and times until every one has its
 * `200` head; then checks each is really subscribed (one event reaches all of them).
 *
 * @example
 * ```ts ignore
 * const outcome = await runArrival(rig, 5000);
 * ```
 */
export async function runArrival(
  rig: Rig,
  subscribers: number,
  concurrency = 0,
): Promise<Outcome> {
  const out = new OutcomeBuilder(`arrival-${subscribers}`, rig.target.label);
  const topic = `${rig.tag}-arrival`;
  const rssBefore = await treeRssBytes(rig.target.pid);
  const meter = await cpuMeter([rig.target.pid, ...rig.subscribers.pids]);
  const started = nowMs();
  const connected = await connectAll(
    rig,
    rig.target.subscribePath(topic),
    subscribers,
    undefined,
    concurrency,
  );
  const seconds = (nowMs() - started) / 1000;
  const [serverCpu, ...clientCpu] = await meter.stop();
  const opened = reportConnections(out, connected, subscribers);
  out.add("time until every response head", seconds, "s", "lower", 2);
  out.add(
    "slowest process: time until its last head",
    Math.max(...connected.map((c) => c.ms)) / 1000,
    "s",
    "lower",
    2,
  );
  out.add("server CPU", serverCpu, "cores", "none", 2);
  out.add("client CPU (subscribers, busiest process)", Math.max(...clientCpu), "cores", "none", 2);
  out.add(
    "server RSS growth per connection",
    opened > 0 ? ((await treeRssBytes(rig.target.pid)) - rssBefore) / opened / 1024 : undefined,
    "KB",
    "none",
    1,
  );
  // Really subscribed: warm-up events until one has reached every connection.
  const deadline = Date.now() + 20_000;
  let warm = 0;
  while (warm < opened && Date.now() < deadline) {
    await rig.publisher.call({ op: "publish", plan: publishPlan(rig, topic, 1, true) });
    const until = Date.now() + 1000;
    while (Date.now() < until) {
      await sleep(50);
      const stats = await rig.subscribers.broadcast<{ warm: number }>({ op: "stats" });
      warm = stats.reduce((sum, s) => sum + s.warm, 0);
      if (warm >= opened) break;
    }
  }
  if (warm < opened) out.fail(`only ${warm} of ${opened} connections received the warm-up event`);
  return out.outcome;
}
