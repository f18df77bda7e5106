/**
 * Scenario 5 (publish throughput with 1 and 100 concurrent publishers, no subscribers) and
 * scenario 6 (a subscriber 1,000 events behind reconnects with `Last-Event-ID`: time to catch up).
 *
 * @module
 */

import { LatencyHistogram } from "./histogram.ts";
import type { Rig } from "./live.ts";
import { describeCounts, type Outcome, OutcomeBuilder } from "./outcome.ts";
import { cpuMeter, machineMeter } from "./proc_stats.ts";
import type { PublishPlan, PublishResult } from "./publisher.ts";
import { type SharedTally, SseSubscriber } from "./sse_subscriber.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function basePlan(
  rig: Rig,
  topics: string[],
): Omit<PublishPlan, "concurrency" | "durationMs" | "maxCount"> {
  return {
    kind: rig.target.kind,
    host: rig.target.host,
    port: rig.target.port,
    token: rig.target.token,
    topics,
    rate: 0,
    paddingBytes: 64,
  };
}

/**
 * Publishes as fast as the hub accepts with each publisher count, spread over the subscriber
 * processes and the publisher process; reports accepted events/s and publish latency.
 *
 * @example
 * ```ts ignore
 * const outcome = await runDurable(rig, [1, 100], 5000, 1);
 * ```
 */
export async function runDurable(
  rig: Rig,
  publisherCounts: number[],
  durationMs: number,
  topicCount: number,
): Promise<Outcome> {
  const out = new OutcomeBuilder("durable", rig.target.label);
  if (!rig.target.durable) {
    out.note(
      "nchan keeps messages in shared memory only: an accepted publish is NOT durable (figures for reference, no ratio)",
    );
  }
  const processes = [rig.publisher, ...rig.subscribers.workers];
  for (const publishers of publisherCounts) {
    const topics = Array.from(
      { length: topicCount },
      (_, i) => `${rig.tag}-durable-${publishers}-${i}`,
    );
    const share = processes.slice(
      0,
      Math.max(1, Math.min(processes.length, Math.ceil(publishers / 25))),
    );
    const meter = await cpuMeter([rig.target.pid, ...share.map((p) => p.pid)]);
    const machine = await machineMeter();
    const results = await Promise.all(share.map((process, i) =>
      process.call<PublishResult>({
        op: "publish",
        plan: {
          ...basePlan(rig, topics),
          concurrency: Math.floor(publishers / share.length) +
            (i < publishers % share.length ? 1 : 0),
          durationMs,
          maxCount: 50_000_000,
        },
      })
    ));
    const cpu = await meter.stop();
    const others = Math.max(0, (await machine.stop()) - cpu.reduce((a, b) => a + b, 0));
    const ok = results.reduce((sum, r) => sum + r.ok, 0);
    const failed = results.reduce((sum, r) => sum + r.failed, 0);
    const seconds = (Math.max(...results.map((r) =>
      r.endedAt
    )) - Math.min(...results.map((r) => r.startedAt))) / 1000;
    const latency = new LatencyHistogram();
    for (const r of results) latency.merge(r.latency);
    const better = rig.target.durable ? "higher" : "none";
    out.add(`${publishers} publisher(s): events/s accepted`, ok / seconds, "/s", better);
    out.add(
      `${publishers} publisher(s): publish latency p50`,
      latency.percentile(50),
      "ms",
      rig.target.durable ? "lower" : "none",
      2,
    );
    out.add(
      `${publishers} publisher(s): publish latency p99`,
      latency.percentile(99),
      "ms",
      rig.target.durable ? "lower" : "none",
      2,
    );
    out.add(`${publishers} publisher(s): server CPU`, cpu[0], "cores", "none", 2);
    out.add(
      `${publishers} publisher(s): client CPU (busiest process)`,
      Math.max(...cpu.slice(1)),
      "cores",
      "none",
      2,
    );
    if (failed > 0) {
      const errors: Record<string, number> = {};
      for (const r of results) {
        for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
      }
      out.fail(`${publishers} publishers: ${failed} publishes failed: ${describeCounts(errors)}`);
    }
    out.add(
      `${publishers} publisher(s): other processes on the machine`,
      others,
      "cores",
      "none",
      2,
    );
    if (Math.max(...cpu.slice(1)) > 0.9) {
      out.note(`${publishers} publishers: a client process was saturated (>0.9 core)`);
    }
    if (others > 0.15) {
      out.note(`${publishers} publishers: other processes used ${others.toFixed(2)} cores`);
    }
    await sleep(500);
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
 * Repeats: subscribe and note the id of a warm-up event, disconnect, publish `behind` events,
 * reconnect with `Last-Event-ID` and time until all of them arrived.
 *
 * @example
 * ```ts ignore
 * const outcome = await runCatchUp(rig, 1000, 5);
 * ```
 */
export async function runCatchUp(rig: Rig, behind: number, repetitions: number): Promise<Outcome> {
  const out = new OutcomeBuilder("catchup", rig.target.label);
  const times: number[] = [];
  const firstEvent: number[] = [];
  for (let round = 0; round < repetitions; round++) {
    const topic = `${rig.tag}-catchup-${round}`;
    const path = rig.target.subscribePath(topic);
    // a) Learn the id of an event on the topic.
    const watcherTally = newTally();
    const watcher = new SseSubscriber(0, watcherTally, 16_384, true);
    await watcher.open(rig.target.host, rig.target.port, path, undefined);
    const warmDeadline = Date.now() + 10_000;
    while (watcherTally.warm === 0 && Date.now() < warmDeadline) {
      await rig.publisher.call({
        op: "publish",
        plan: {
          ...basePlan(rig, [topic]),
          concurrency: 1,
          durationMs: 5000,
          maxCount: 1,
          warmup: true,
        },
      });
      const until = Date.now() + 500;
      while (watcherTally.warm === 0 && Date.now() < until) await sleep(5);
    }
    watcher.close();
    const anchor = watcher.lastId;
    if (watcherTally.warm === 0 || anchor === undefined) {
      out.fail(`round ${round}: the warm-up event never arrived, so there is no id to resume from`);
      continue;
    }
    // b) Fall behind.
    const published = await rig.publisher.call<PublishResult>({
      op: "publish",
      plan: { ...basePlan(rig, [topic]), concurrency: 1, durationMs: 60_000, maxCount: behind },
    });
    if (published.ok < behind) {
      out.fail(
        `round ${round}: only ${published.ok} of ${behind} publishes accepted: ${
          describeCounts(published.errors)
        }`,
      );
    }
    await sleep(200);
    // c) Reconnect with Last-Event-ID and time the catch-up.
    const tally = newTally();
    const subscriber = new SseSubscriber(0, tally, 65_536, false);
    const started = performance.timeOrigin + performance.now();
    try {
      await subscriber.open(rig.target.host, rig.target.port, path, anchor);
    } catch (error) {
      out.fail(`round ${round}: resume request failed: ${(error as Error).message}`);
      subscriber.close();
      continue;
    }
    const deadline = Date.now() + 10_000;
    while (subscriber.unique < published.ok && Date.now() < deadline) await sleep(1);
    const firstAt = tally.firstReceivedAt ?? 0;
    subscriber.close();
    if (subscriber.unique < published.ok) {
      out.fail(
        `round ${round}: resumed subscriber got ${subscriber.unique} of ${published.ok} missed events in 10 s`,
      );
      continue;
    }
    if (subscriber.duplicates > 0) {
      out.fail(`round ${round}: ${subscriber.duplicates} duplicated events on resume`);
    }
    times.push(tally.lastReceivedAt - started);
    if (firstAt > 0) firstEvent.push(firstAt - started);
  }
  times.sort((a, b) => a - b);
  const median = times.length ? times[Math.floor(times.length / 2)] : undefined;
  out.add(`catch-up of ${behind} events (median of ${times.length})`, median, "ms", "lower", 1);
  out.add("catch-up, best", times[0], "ms", "lower", 1);
  out.add("catch-up, worst", times.at(-1), "ms", "lower", 1);
  firstEvent.sort((a, b) => a - b);
  out.add(
    "first missed event after",
    firstEvent.length ? firstEvent[Math.floor(firstEvent.length / 2)] : undefined,
    "ms",
    "lower",
    2,
  );
  return out.outcome;
}
