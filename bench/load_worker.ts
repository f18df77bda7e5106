/**
 * A load-tool child process: holds many SSE subscriber connections and/or runs publishers, driven
 * by one JSON command per line on stdin, answering one JSON line per command on stdout.
 *
 * Spawned by {@link ./worker_pool.ts}; several run side by side so that no process needs more than
 * ~10,000 sockets and the client work spreads over cores.
 *
 * @module
 */

import { LatencyHistogram } from "./histogram.ts";
import { type PublishPlan, runPublishers } from "./publisher.ts";
import { type SharedTally, SseSubscriber } from "./sse_subscriber.ts";

/** One group of identical subscriptions. */
export interface SubscriptionGroup {
  path: string;
  topic: number;
  count: number;
}

/** Commands a worker understands. */
export type WorkerCommand =
  | {
    op: "subscribe";
    host: string;
    port: number;
    groups: SubscriptionGroup[];
    concurrency: number;
    bufferBytes: number;
    keepIds?: boolean;
    lastEventId?: string;
    timeoutMs: number;
  }
  | { op: "stats"; reset?: boolean }
  | { op: "verify"; expectedPerTopic: number[] }
  | { op: "close" }
  | { op: "publish"; plan: PublishPlan }
  | { op: "exit" };

const tally: SharedTally = {
  histogram: new LatencyHistogram(),
  received: 0,
  lastReceivedAt: 0,
  warm: 0,
  droppedEarly: 0,
};
let subscribers: SseSubscriber[] = [];

async function subscribe(command: Extract<WorkerCommand, { op: "subscribe" }>) {
  const started = performance.now();
  const jobs: Array<{ path: string; topic: number }> = [];
  for (const group of command.groups) {
    for (let i = 0; i < group.count; i++) jobs.push({ path: group.path, topic: group.topic });
  }
  const errors: Record<string, number> = {};
  let opened = 0;
  let next = 0;
  const deadline = Date.now() + command.timeoutMs;
  const opener = async () => {
    while (next < jobs.length && Date.now() < deadline) {
      const job = jobs[next++];
      const subscriber = new SseSubscriber(
        job.topic,
        tally,
        command.bufferBytes,
        command.keepIds ?? false,
      );
      try {
        await subscriber.open(
          command.host,
          command.port,
          job.path,
          command.lastEventId,
          command.timeoutMs,
        );
        subscribers.push(subscriber);
        opened++;
      } catch (error) {
        subscriber.close();
        const key = String((error as Error)?.message ?? error).slice(0, 120);
        errors[key] = (errors[key] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, command.concurrency) }, opener));
  return { opened, failed: jobs.length - opened, errors, ms: performance.now() - started };
}

function stats(reset: boolean) {
  const open = subscribers.reduce((sum, subscriber) => sum + (subscriber.ended ? 0 : 1), 0);
  const snapshot = {
    received: tally.received,
    lastReceivedAt: tally.lastReceivedAt,
    warm: tally.warm,
    droppedEarly: tally.droppedEarly,
    open,
    connections: subscribers.length,
    latency: tally.histogram.snapshot(),
    lastIds: subscribers.length <= 4 ? subscribers.map((subscriber) => subscriber.lastId) : [],
  };
  if (reset) {
    tally.histogram.reset();
    tally.received = 0;
    tally.lastReceivedAt = 0;
  }
  return snapshot;
}

function verify(expectedPerTopic: number[]) {
  let lost = 0;
  let connectionsWithLoss = 0;
  let maxLost = 0;
  let duplicates = 0;
  let connectionsWithDuplicates = 0;
  let outOfOrder = 0;
  let connectionsWithReordering = 0;
  let maxDisplacement = 0;
  for (const subscriber of subscribers) {
    outOfOrder += subscriber.outOfOrder;
    if (subscriber.outOfOrder > 0) connectionsWithReordering++;
    if (subscriber.maxDisplacement > maxDisplacement) maxDisplacement = subscriber.maxDisplacement;
    const missing = Math.max(0, (expectedPerTopic[subscriber.topic] ?? 0) - subscriber.unique);
    if (missing > 0) connectionsWithLoss++;
    lost += missing;
    if (missing > maxLost) maxLost = missing;
    duplicates += subscriber.duplicates;
    if (subscriber.duplicates > 0) connectionsWithDuplicates++;
  }
  // Delivery orders: per topic, how many connections saw each order (by hash).
  const orders: Record<number, Record<number, number>> = {};
  for (const subscriber of subscribers) {
    const perTopic = orders[subscriber.topic] ??= {};
    perTopic[subscriber.orderHash] = (perTopic[subscriber.orderHash] ?? 0) + 1;
  }
  return {
    orders,
    lost,
    connectionsWithLoss,
    maxLost,
    duplicates,
    connectionsWithDuplicates,
    outOfOrder,
    connectionsWithReordering,
    maxDisplacement,
    connections: subscribers.length,
  };
}

function closeAll() {
  for (const subscriber of subscribers) subscriber.close();
  const closed = subscribers.length;
  subscribers = [];
  tally.warm = 0;
  tally.droppedEarly = 0;
  tally.received = 0;
  tally.histogram.reset();
  return { closed };
}

async function handle(command: WorkerCommand): Promise<unknown> {
  switch (command.op) {
    case "subscribe":
      return await subscribe(command);
    case "stats":
      return stats(command.reset ?? false);
    case "verify":
      return verify(command.expectedPerTopic);
    case "close":
      return closeAll();
    case "publish":
      return await runPublishers(command.plan);
    case "exit":
      closeAll();
      return { bye: true };
  }
}

if (import.meta.main) {
  const encoder = new TextEncoder();
  let writing = Promise.resolve();
  const reply = (message: unknown) => {
    const bytes = encoder.encode(JSON.stringify(message) + "\n");
    writing = writing.then(async () => {
      for (let done = 0; done < bytes.length;) {
        done += await Deno.stdout.write(bytes.subarray(done));
      }
    });
    return writing;
  };
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let carry = "";
  outer: for await (const text of lines) {
    carry += text;
    let newline: number;
    while ((newline = carry.indexOf("\n")) >= 0) {
      const line = carry.slice(0, newline);
      carry = carry.slice(newline + 1);
      if (!line.trim()) continue;
      const { id, command } = JSON.parse(line) as { id: number; command: WorkerCommand };
      // Commands run concurrently (a publish may run while stats are polled).
      handle(command).then(
        (result) => reply({ id, ok: true, result }),
        (error) => reply({ id, ok: false, error: String((error as Error)?.stack ?? error) }),
      );
      if (command.op === "exit") break outer;
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  await writing;
  Deno.exit(0);
}
