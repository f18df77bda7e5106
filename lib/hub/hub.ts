/**
 * The hub: one object per isolate tying the KV log, the broker and the fan-out together.
 *
 * publish → {@link EventLog} (KV) → {@link Broker} → {@link Fanout} → {@link subscribe} → SSE bytes.
 *
 * @module
 */

import { Broker } from "./broker.ts";
import { EventLog } from "./event_log.ts";
import { Fanout } from "./fanout.ts";
import {
  subscribe,
  subscribeUpdates,
  type SubscriptionOptions,
  usesTopicLogs,
} from "./subscription.ts";
import { trimmedUpTo } from "./retention.ts";
import { pushSubscription } from "./push_subscription.ts";
import type { SseSink } from "../sse/response.ts";
import type { SelectorSet } from "../topics/topic_selector.ts";
import { parseHubId, type StoredUpdate, type UpdateInput } from "./update.ts";

/** Options of {@link Hub.open}. */
export interface HubOptions {
  /** How long publisher-given ids stay resolvable, ms. */
  idTtlMs?: number;
  /** Broker's head poll interval (covers other processes on one KV file). */
  pollMs?: number;
}

/** Where a subscription resumes. */
export interface ResumePoint {
  /** Replay updates after this position. */
  afterSeq: number;
  /** What the `Last-Event-ID` response header says: the requested id, or `earliest`. */
  resumedFrom: string;
}

/**
 * The hub of one isolate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hub } from "./hub.ts";
 * const kv = await Deno.openKv(":memory:");
 * const hub = await Hub.open(kv);
 * const update = await hub.publish({ topics: ["news"], data: "hello" });
 * assert.match(update.id, /^urn:uuid:/);
 * assert.deepEqual((await hub.log.read(0, 10)).map((stored) => stored.data), ["hello"]);
 * hub.close();
 * kv.close();
 * ```
 */
export class Hub {
  readonly kv: Deno.Kv;
  readonly log: EventLog;
  readonly broker: Broker;
  readonly fanout: Fanout = new Fanout();
  /** Aborts when the hub shuts down: every subscription ends with it. */
  readonly closing: AbortSignal;
  #closer = new AbortController();
  #onClosing = new Set<() => void>();
  /** Counters for metrics. */
  readonly counters = { published: 0, replays: 0, replayedEvents: 0, sent: 0 };

  private constructor(kv: Deno.Kv, log: EventLog, broker: Broker) {
    this.kv = kv;
    this.log = log;
    this.broker = broker;
    this.closing = this.#closer.signal;
    broker.listen((updates) => this.fanout.dispatch(updates));
  }

  /**
   * Opens the hub on a KV store.
   */
  static async open(kv: Deno.Kv, options: HubOptions = {}): Promise<Hub> {
    const log = await EventLog.open(kv, { idTtlMs: options.idTtlMs });
    const broker = await Broker.start(log, { pollMs: options.pollMs });
    return new Hub(kv, log, broker);
  }

  /**
   * Appends an already validated update to the log; resolves once it is durable.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Hub } from "./hub.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * const update = await hub.publish({ topics: ["a"], data: "1", id: "first" });
   * assert.equal(update.id, "first");
   * hub.close();
   * kv.close();
   * ```
   */
  async publish(input: UpdateInput): Promise<StoredUpdate> {
    const update = await this.log.append(input);
    this.counters.published++;
    return update;
  }

  /**
   * Finds where to resume after `lastEventId`: a known id resumes right after it; `earliest`, or an
   * id the hub no longer has or never had, replays all retained history and says `earliest`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Hub } from "./hub.ts";
   * import { SelectorSet } from "../topics/topic_selector.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * await hub.publish({ topics: ["news"], data: "1", id: "one" });
   * const news = new SelectorSet(["news"]);
   * assert.deepEqual(await hub.resumePoint("one", news), { afterSeq: 1, resumedFrom: "one" });
   * assert.deepEqual(await hub.resumePoint("gone", news), { afterSeq: 0, resumedFrom: "earliest" });
   * hub.close();
   * kv.close();
   * ```
   */
  async resumePoint(lastEventId: string, selectors: SelectorSet): Promise<ResumePoint> {
    if (lastEventId !== "earliest") {
      let seq = parseHubId(lastEventId, this.log.epoch);
      if (seq === undefined) seq = await this.log.seqOfId(lastEventId);
      if (seq !== undefined && seq <= Math.max(this.broker.cursor, await this.log.headSeq())) {
        const logs = usesTopicLogs(selectors) ? [...selectors.exactTopics] : ["*"];
        const trimmed = await Promise.all(logs.map((topic) => trimmedUpTo(this.kv, topic)));
        if (trimmed.every((upTo) => seq! >= upTo)) {
          return { afterSeq: seq, resumedFrom: lastEventId };
        }
      }
    }
    return { afterSeq: 0, resumedFrom: "earliest" };
  }

  /**
   * Streams a subscription as SSE byte chunks (see {@link subscribe}).
   */
  subscribe(options: SubscriptionOptions): AsyncGenerator<Uint8Array, void, void> {
    if (options.afterSeq !== undefined) this.counters.replays++;
    return subscribe(this, options);
  }

  /**
   * Streams a subscription as batches of updates (for transports other than SSE).
   */
  subscribeUpdates(options: SubscriptionOptions): AsyncGenerator<StoredUpdate[], void, void> {
    if (options.afterSeq !== undefined) this.counters.replays++;
    return subscribeUpdates(this, options);
  }

  /**
   * Runs a subscription into an SSE sink: history from KV, then live pushes (see
   * {@link pushSubscription}).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Hub } from "./hub.ts";
   * import { ssePushResponse } from "../sse/response.ts";
   * import { SelectorSet } from "../topics/topic_selector.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * await hub.publish({ topics: ["t"], data: "x", type: "end", id: "e" });
   * const response = ssePushResponse((sink) =>
   *   hub.pushSubscription({
   *     selectors: new SelectorSet(["t"]), afterSeq: 0, accepts: () => true,
   *     signal: sink.signal, isFinal: (update) => update.type === "end",
   *   }, sink), { heartbeatMs: 0 });
   * assert.equal(await response.text(), "id: e\nevent: end\ndata: x\n\n");
   * hub.close();
   * kv.close();
   * ```
   */
  pushSubscription(options: SubscriptionOptions, sink: SseSink): Promise<void> {
    if (options.afterSeq !== undefined) this.counters.replays++;
    return pushSubscription(this, options, sink);
  }

  /** Open subscriptions in this isolate. */
  get subscriberCount(): number {
    return this.fanout.size;
  }

  /**
   * Starts the shutdown: every subscription's signal aborts; appends already queued still commit.
   */
  beginShutdown(): void {
    this.#closer.abort();
    const callbacks = [...this.#onClosing];
    this.#onClosing.clear();
    for (const callback of callbacks) callback();
  }

  /**
   * Calls `callback` once when the shutdown begins (at once if it has begun); returns how to
   * cancel that. One set entry per subscription, where an abort listener would cost several
   * objects per connection.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Hub } from "./hub.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * let stopped = false;
   * hub.onClosing(() => stopped = true);
   * hub.beginShutdown();
   * assert.equal(stopped, true);
   * assert.equal(hub.closing.aborted, true);
   * hub.close();
   * kv.close();
   * ```
   */
  onClosing(callback: () => void): () => void {
    if (this.#closer.signal.aborted) {
      callback();
      return () => {};
    }
    this.#onClosing.add(callback);
    return () => this.#onClosing.delete(callback);
  }

  /**
   * Waits until every queued append is committed (or `timeoutMs` passed).
   */
  async flush(timeoutMs = Infinity): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.log.pending > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /**
   * Stops the broker; the KV handle stays the caller's to close.
   */
  close(): void {
    this.#closer.abort();
    this.broker.close();
  }
}
