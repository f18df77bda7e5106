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
import { matchesSelector, type SelectorSet } from "../topics/topic_selector.ts";
import { canReceivePrivate, type MercureClaims } from "../auth/mercure_auth.ts";
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
 * import { Hub } from "./hub.ts";
 * const kv = await Deno.openKv(":memory:");
 * const hub = await Hub.open(kv);
 * const update = await hub.publish({ topics: ["news"], data: "hello" });
 * console.assert(update.id.startsWith("urn:uuid:"));
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
   *
   * @example
   * ```ts
   * import { Hub } from "./hub.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv, { pollMs: 500 });
   * hub.close();
   * kv.close();
   * ```
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
   * import { Hub } from "./hub.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * const update = await hub.publish({ topics: ["a"], data: "1", id: "first" });
   * console.assert(update.id === "first");
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
   * The id of a private update counts as unknown unless `claims` (the subscriber's; none for an
   * anonymous one) may receive that update, so a resume tells nobody that a private update
   * exists; so does a hub id whose random part is not the update's own.
   *
   * @example
   * ```ts
   * import { Hub } from "./hub.ts";
   * import { SelectorSet } from "../topics/topic_selector.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * const point = await hub.resumePoint("no-such-id", new SelectorSet(["news"]));
   * console.assert(point.afterSeq === 0 && point.resumedFrom === "earliest");
   * hub.close();
   * kv.close();
   * ```
   */
  async resumePoint(
    lastEventId: string,
    selectors: SelectorSet,
    claims?: MercureClaims,
  ): Promise<ResumePoint> {
    if (lastEventId !== "earliest") {
      let seq = parseHubId(lastEventId, this.log.epoch);
      if (seq === undefined) seq = await this.log.seqOfId(lastEventId);
      if (seq !== undefined && seq <= Math.max(this.broker.cursor, await this.log.headSeq())) {
        const exactTopics = usesTopicLogs(selectors) ? [...selectors.exactTopics] : [];
        const logs = usesTopicLogs(selectors) ? exactTopics : ["*"];
        const trimmed = await Promise.all(logs.map((topic) => trimmedUpTo(this.kv, topic)));
        if (
          trimmed.every((upTo) => seq! >= upTo) &&
          await this.#mayKnow(lastEventId, seq, exactTopics, claims)
        ) {
          return { afterSeq: seq, resumedFrom: lastEventId };
        }
      }
    }
    return { afterSeq: 0, resumedFrom: "earliest" };
  }

  /** Whether the update at `seq` carries `id` and is public or visible to `claims`. */
  async #mayKnow(
    id: string,
    seq: number,
    topics: string[],
    claims: MercureClaims | undefined,
  ): Promise<boolean> {
    const update = await this.log.updateAt(seq, topics);
    if (update === undefined || update.id !== id) return false;
    return !update.private || canReceivePrivate(claims, update.topics, matchesSelector);
  }

  /**
   * Streams a subscription as SSE byte chunks (see {@link subscribe}).
   *
   * @example
   * ```ts
   * import { Hub } from "./hub.ts";
   * import { SelectorSet } from "../topics/topic_selector.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * const controller = new AbortController();
   * const stream = hub.subscribe({ selectors: new SelectorSet(["*"]), accepts: () => true, signal: controller.signal });
   * controller.abort();
   * await stream.next();
   * hub.close();
   * kv.close();
   * ```
   */
  subscribe(options: SubscriptionOptions): AsyncGenerator<Uint8Array, void, void> {
    if (options.afterSeq !== undefined) this.counters.replays++;
    return subscribe(this, options);
  }

  /**
   * Streams a subscription as batches of updates (for transports other than SSE).
   *
   * @example
   * ```ts
   * import { Hub } from "./hub.ts";
   * import { SelectorSet } from "../topics/topic_selector.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * const controller = new AbortController();
   * const batches = hub.subscribeUpdates({ selectors: new SelectorSet(["*"]), accepts: () => true, signal: controller.signal });
   * controller.abort();
   * await batches.next();
   * hub.close();
   * kv.close();
   * ```
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
   * import { Hub } from "./hub.ts";
   * import { ssePushResponse } from "../sse/response.ts";
   * import { SelectorSet } from "../topics/topic_selector.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * await hub.publish({ topics: ["t"], data: "x", type: "end" });
   * const response = ssePushResponse((sink) =>
   *   hub.pushSubscription({
   *     selectors: new SelectorSet(["t"]), afterSeq: 0, accepts: () => true,
   *     signal: sink.signal, isFinal: (update) => update.type === "end",
   *   }, sink), { heartbeatMs: 0 });
   * console.assert((await response.text()).includes("data: x"));
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
   *
   * @example
   * ```ts
   * import { Hub } from "./hub.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * hub.beginShutdown();
   * console.assert(hub.closing.aborted);
   * hub.close();
   * kv.close();
   * ```
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
   * import { Hub } from "./hub.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * let stopped = false;
   * hub.onClosing(() => stopped = true);
   * hub.beginShutdown();
   * console.assert(stopped);
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
   *
   * @example
   * ```ts
   * import { Hub } from "./hub.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(kv);
   * await hub.flush();
   * hub.close();
   * kv.close();
   * ```
   */
  async flush(timeoutMs = Infinity): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.log.pending > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /**
   * Stops the broker; the KV handle stays the caller's to close.
   *
   * @example
   * ```ts
   * import { Hub } from "./hub.ts";
   * const kv = await Deno.openKv(":memory:");
   * (await Hub.open(kv)).close();
   * kv.close();
   * ```
   */
  close(): void {
    this.#closer.abort();
    this.broker.close();
  }
}
