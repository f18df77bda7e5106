/**
 * The hub: one object per isolate tying the log, the broker and the fan-out together, on a
 * {@link Transport} (the durable, shared store).
 *
 * publish → {@link EventLog} (transport) → {@link Broker} → {@link Fanout} → {@link subscribe} →
 * SSE bytes.
 *
 * Outside `lib/hub/`, code uses the hub's methods (publish, subscribe, read, records, leases,
 * stats), never its parts (`log`, `broker`, `fanout`): `deno task check` holds that line.
 *
 * @module
 */

import { keepsTopicLog } from "./topic_logs.ts";
import { Broker } from "./_broker.ts";
import { EventLog } from "./_event_log.ts";
import { Fanout } from "./_fanout.ts";
import {
  subscribe,
  subscribeUpdates,
  type SubscriptionOptions,
  usesTopicLogs,
} from "./_subscription.ts";
import { type LeasedJob, runWithLease } from "./lease.ts";
import type { RecordStore, RetentionPolicy, Transport } from "./transport.ts";
import { pushSubscription } from "./_push_subscription.ts";
import type { SseSink } from "../sse/mod.ts";
import type { SelectorSet } from "../topics/mod.ts";
import type { MercureClaims } from "../auth/mercure_auth.ts";
import { mayReceive } from "./_visibility.ts";
import type { HotTailOptions } from "./_hot_tail.ts";
import { makeHubId, parseHubId, type StoredUpdate, type UpdateInput } from "./update.ts";

/** Options of {@link Hub.open}. */
export interface HubOptions {
  /** Broker's head poll interval: the last safety net behind the transport's head watch. */
  pollMs?: number;
  /** Sizes of the in-memory tail of the log that answers recent resumes (see `hot_tail.ts`). */
  tail?: HotTailOptions;
}

/** The hub's counters, for metrics. */
export interface HubStats {
  published: number;
  replays: number;
  /** Updates appended by this isolate, and the appends (batches) that carried them. */
  appendedEvents: number;
  appends: number;
  /** Append attempts that did not land (another writer first, or an error). */
  appendMisses: number;
  /** Updates the broker delivered to this isolate's subscribers, and how it got them. */
  delivered: number;
  gapsFilled: number;
  gapEvents: number;
  duplicatesDropped: number;
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
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { Hub } from "./hub.ts";
 * const kv = await Deno.openKv(":memory:");
 * const hub = await Hub.open(new KvTransport(kv));
 * const update = await hub.publish({ topics: ["news"], data: "hello" });
 * assert.match(update.id, /^urn:uuid:/);
 * assert.deepEqual((await hub.log.read(0, 10)).map((stored) => stored.data), ["hello"]);
 * hub.close();
 * kv.close();
 * ```
 */
export class Hub {
  /** The store (internal to `lib/hub/`). */
  readonly transport: Transport;
  /** Small shared records: state of orders and games, typing marks, subscription records. */
  readonly records: RecordStore;
  /** The log (internal to `lib/hub/`). */
  readonly log: EventLog;
  readonly broker: Broker;
  readonly fanout: Fanout = new Fanout();
  /** Aborts when the hub shuts down: every subscription ends with it. */
  readonly closing: AbortSignal;
  #closer = new AbortController();
  #onClosing = new Set<() => void>();
  /** Counters for metrics. */
  readonly counters = { published: 0, replays: 0, replayedEvents: 0, sent: 0 };

  private constructor(transport: Transport, log: EventLog, broker: Broker) {
    this.transport = transport;
    this.records = transport.records;
    this.log = log;
    this.broker = broker;
    this.closing = this.#closer.signal;
    broker.listen((updates) => this.fanout.dispatch(updates));
  }

  /**
   * Opens the hub on a KV store.
   */
  static async open(transport: Transport, options: HubOptions = {}): Promise<Hub> {
    const log = await EventLog.open(transport, {
      // Subscription-event topics (one per subscriber) get no topic tail, as they get no topic
      // log (`topic_logs.ts`): thousands would push the tails that matter out.
      skipTopic: (topic) => !keepsTopicLog(topic),
      ...options.tail,
    });
    const broker = await Broker.start(log, { pollMs: options.pollMs });
    return new Hub(transport, log, broker);
  }

  /**
   * Appends an already validated update to the log; resolves once it is durable.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { KvTransport } from "../kv/kv_transport.ts";
   * import { Hub } from "./hub.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(new KvTransport(kv));
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
   * The id of a private update counts as unknown unless `claims` (the subscriber's; none for an
   * anonymous one) may receive that update, so a resume tells nobody that a private update
   * exists; so does a hub id whose random part is not the update's own.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { KvTransport } from "../kv/kv_transport.ts";
   * import { Hub } from "./hub.ts";
   * import { SelectorSet } from "../topics/mod.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(new KvTransport(kv));
   * await hub.publish({ topics: ["news"], data: "1", id: "one" });
   * const news = new SelectorSet(["news"]);
   * assert.deepEqual(await hub.resumePoint("one", news), { afterSeq: 1, resumedFrom: "one" });
   * assert.deepEqual(await hub.resumePoint("gone", news), { afterSeq: 0, resumedFrom: "earliest" });
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
      if (
        seq !== undefined && (seq <= this.broker.cursor || seq <= await this.log.headSeq())
      ) {
        const exactTopics = usesTopicLogs(selectors) ? [...selectors.exactTopics] : [];
        const logs = usesTopicLogs(selectors) ? exactTopics : ["*"];
        // A log whose newest updates after `seq` are all in memory needs no trim check: the
        // replay is served from there, complete.
        const trimmed = await Promise.all(
          logs.map((topic) =>
            this.log.tail.covers(topic, seq!) ? 0 : this.transport.trimmedUpTo(topic)
          ),
        );
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
    return mayReceive(claims, update);
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
   * import { KvTransport } from "../kv/kv_transport.ts";
   * import { Hub } from "./hub.ts";
   * import { ssePushResponse } from "../sse/mod.ts";
   * import { SelectorSet } from "../topics/mod.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(new KvTransport(kv));
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

  /** The newest update of a topic, from the log. */
  newest(topic: string): Promise<StoredUpdate | undefined> {
    return this.log.newest(topic);
  }

  /** The position just before the `count`-th newest update of a topic (where its state starts). */
  seqBeforeNewest(topic: string, count: number): Promise<number> {
    return this.log.seqBeforeNewest(topic, count);
  }

  /** Updates of one topic with `afterSeq < seq <= untilSeq`, from the log. */
  readTopic(topic: string, afterSeq: number, untilSeq: number): Promise<StoredUpdate[]> {
    return this.log.readTopic(topic, afterSeq, untilSeq);
  }

  /**
   * The id of the newest update in the hub (what a subscriber resuming from "now" would name), or
   * `undefined` for an empty log.
   */
  async newestId(): Promise<string | undefined> {
    const head = Math.max(this.broker.cursor, await this.log.headSeq());
    if (head === 0) return undefined;
    const [update] = await this.log.read(head - 1, head, 1);
    return update?.id ?? makeHubId(head, this.log.epoch);
  }

  /** Runs a job under a cluster-wide lease (see {@link runWithLease}). */
  runWithLease(job: LeasedJob): Promise<void> {
    return runWithLease(this.transport, job);
  }

  /**
   * Trims history to `policy`: the topics this isolate appended to since the last call, or every
   * topic with `options.everyTopic` (other nodes' included), and the global log. Resolves with
   * rows deleted.
   */
  async trimHistory(
    policy: RetentionPolicy,
    options: { everyTopic?: boolean } = {},
  ): Promise<number> {
    let topics: Iterable<string> = [...this.log.dirtyTopics];
    this.log.dirtyTopics.clear();
    if (options.everyTopic) topics = await this.transport.listTopics();
    return this.transport.trim(topics, policy);
  }

  /** Calls `listener` with the duration (ms) of each append this isolate makes. */
  onAppendTimed(listener: (ms: number) => void): () => void {
    return this.log.onCommit(() => listener(this.log.stats.lastCommitMs));
  }

  /** Why the hub cannot serve now (its broker stopped, its store not answering), or `undefined`. */
  async unready(timeoutMs = 2000): Promise<string | undefined> {
    if (!this.broker.running) return "broker stopped";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`${this.transport.name} not answering`), timeoutMs);
    });
    try {
      return await Promise.race([this.transport.ping().then(() => undefined), timeout]);
    } catch (error) {
      // The Redis client's messages already say `redis unavailable: …`: say it once.
      const message = (error as Error).message;
      const prefix = `${this.transport.name} unavailable: `;
      return message.startsWith(prefix) ? message : `${prefix}${message}`;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The hub's counters. */
  stats(): HubStats {
    const { stats } = this.log;
    const broker = this.broker.stats;
    return {
      published: this.counters.published,
      replays: this.counters.replays,
      appendedEvents: stats.events,
      appends: stats.commits,
      appendMisses: stats.conflicts,
      delivered: broker.delivered,
      gapsFilled: broker.gapsFilled,
      gapEvents: broker.gapEvents,
      duplicatesDropped: broker.duplicatesDropped,
    };
  }

  /** Subscriber counts of the `limit` most watched exact topics in this isolate. */
  topicCounts(limit: number): Array<[string, number]> {
    return this.fanout.topicCounts(limit);
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
   * import { KvTransport } from "../kv/kv_transport.ts";
   * import { Hub } from "./hub.ts";
   * const kv = await Deno.openKv(":memory:");
   * const hub = await Hub.open(new KvTransport(kv));
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
   * Stops the broker; the transport stays the caller's to close.
   */
  close(): void {
    this.#closer.abort();
    this.broker.close();
  }
}
