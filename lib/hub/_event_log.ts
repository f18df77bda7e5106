/**
 * The durable event log: the truth every subscriber is served from.
 *
 * Every update gets the next position of one hub-wide, contiguous sequence and is written to the
 * global log and to the log of each of its topics before its publisher is answered. Concurrent
 * appends are group-committed: one atomic append of the {@link Transport} carries many updates,
 * and while one batch is being written the previous one's fan-out runs. An update the store could
 * not take is refused before it joins a batch, and if a batch still fails its updates are appended
 * again one by one, so one bad update never fails its neighbours (unless the store was unavailable:
 * then the batch may have landed, and every update of it is refused with that error).
 *
 * Reading a range of the global log or of one topic's is answered from the {@link HotTail} (the
 * newest updates, in memory, filled by the broker) when it provably holds the whole range, else
 * from the transport; the head and an id's position always come from the transport.
 *
 * @module
 */

import {
  type AppendRequest,
  StorageLimitError,
  StorageUnavailableError,
  type Transport,
} from "./transport.ts";
import { keepsTopicLog } from "./topic_logs.ts";
import { estimateUpdateSize, makeHubId, type StoredUpdate, type UpdateInput } from "./update.ts";
import { HotTail, type HotTailOptions } from "./_hot_tail.ts";

interface Pending extends AppendRequest {
  resolve: (update: StoredUpdate) => void;
  reject: (error: unknown) => void;
}

/** Statistics of the group committer, for metrics. */
export interface CommitStats {
  commits: number;
  conflicts: number;
  events: number;
  lastCommitMs: number;
}

/**
 * The log of one hub: appends with group commit, reads through the transport.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventLog } from "./_event_log.ts";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const log = await EventLog.open(transport);
 * const [a, b] = await Promise.all([
 *   log.append({ topics: ["t"], data: "1" }),
 *   log.append({ topics: ["t"], data: "2" }),
 * ]);
 * assert.deepEqual([a.seq, b.seq], [1, 2]);
 * assert.deepEqual((await log.readTopic("t", 0, 2)).map((update) => update.data), ["1", "2"]);
 * transport.close();
 * ```
 */
export class EventLog {
  /** The store's epoch, part of every generated id. */
  readonly epoch: number;
  readonly transport: Transport;
  /** Topics with a log of their own appended to since the retention job last took them. */
  readonly dirtyTopics: Set<string> = new Set();
  readonly stats: CommitStats = { commits: 0, conflicts: 0, events: 0, lastCommitMs: 0 };
  /** The newest updates in memory (the broker fills it as it delivers). */
  readonly tail: HotTail;
  #queue: Pending[] = [];
  #draining = false;
  #committingUpTo = 0;
  #committed = new Set<(updates: StoredUpdate[]) => void>();
  #missed = new Set<() => void>();

  private constructor(transport: Transport, epoch: number, tail: HotTailOptions) {
    this.transport = transport;
    this.epoch = epoch;
    this.tail = new HotTail(tail);
  }

  /** Opens the log on a transport, creating the store's epoch on first use. */
  static async open(transport: Transport, tail: HotTailOptions = {}): Promise<EventLog> {
    return new EventLog(transport, await transport.epoch(), tail);
  }

  /**
   * Calls `listener` after each successful append with its updates, in log order; returns how to
   * stop.
   */
  onCommit(listener: (updates: StoredUpdate[]) => void): () => void {
    this.#committed.add(listener);
    return () => this.#committed.delete(listener);
  }

  /** Calls `listener` after each append attempt that did not land; returns how to stop. */
  onMissed(listener: () => void): () => void {
    this.#missed.add(listener);
    return () => this.#missed.delete(listener);
  }

  /**
   * Appends an update; resolves once it is durable, with its position and id. An update the store
   * could not take is refused with a {@link StorageLimitError} before it joins a batch.
   */
  append(input: UpdateInput): Promise<StoredUpdate> {
    const request = { input, size: estimateUpdateSize(input) };
    const refusal = this.transport.appendRefusal(request);
    if (refusal !== undefined) return Promise.reject(new StorageLimitError(refusal));
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...request, resolve, reject });
      if (!this.#draining) this.#drain();
    });
  }

  /**
   * The position of the last update of the append in flight, 0 when none: a head at or below it
   * may be this isolate's own append, about to be reported by {@link onCommit}.
   */
  get committingUpTo(): number {
    return this.#committingUpTo;
  }

  /** Updates waiting for their append. */
  get pending(): number {
    return this.#queue.length;
  }

  /** The newest position written. */
  headSeq(): Promise<number> {
    return this.transport.headSeq();
  }

  /** Updates with `afterSeq < seq <= untilSeq` of the global log, oldest first. */
  read(afterSeq: number, untilSeq: number, limit = 1000): Promise<StoredUpdate[]> {
    const held = this.tail.read(afterSeq, untilSeq, limit);
    if (held !== undefined) return Promise.resolve(held);
    return this.transport.read(afterSeq, untilSeq, limit);
  }

  /** The same, from one topic's log. */
  readTopic(topic: string, afterSeq: number, untilSeq: number, limit = 1000): Promise<
    StoredUpdate[]
  > {
    const held = this.tail.readTopic(topic, afterSeq, untilSeq, limit);
    if (held !== undefined) return Promise.resolve(held);
    return this.transport.readTopic(topic, afterSeq, untilSeq, limit);
  }

  /**
   * The update at position `seq`, from the global log or else from one of `topics`' logs (each
   * log is trimmed on its own); `undefined` when none of them holds it any more.
   */
  async updateAt(seq: number, topics: Iterable<string> = []): Promise<StoredUpdate | undefined> {
    const [found] = await this.read(seq - 1, seq, 1);
    if (found !== undefined) return found;
    for (const topic of topics) {
      const [inTopic] = await this.readTopic(topic, seq - 1, seq, 1);
      if (inTopic !== undefined) return inTopic;
    }
    return undefined;
  }

  /** The position of a publisher-given id, while it is remembered. */
  seqOfId(id: string): Promise<number | undefined> {
    return this.transport.seqOfId(id);
  }

  /** The newest update of a topic. */
  newest(topic: string): Promise<StoredUpdate | undefined> {
    return this.transport.newest(topic);
  }

  /** The position just before the `count`-th newest update of a topic. */
  seqBeforeNewest(topic: string, count: number): Promise<number> {
    return this.transport.seqBeforeNewest(topic, count);
  }

  /** The oldest position still in the global log. */
  oldestSeq(): Promise<number> {
    return this.transport.oldestSeq();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      let batch = this.#takeBatch();
      let appending = this.#append(batch);
      while (true) {
        let stored: StoredUpdate[] | undefined;
        let failure: unknown;
        try {
          stored = await appending;
        } catch (error) {
          failure = error;
        }
        const done = batch;
        // One bad update must never fail its neighbours: each goes alone, in order. Not when the
        // store is unavailable: that is no update's fault, and such a failure may come after the
        // batch was written (a connection broken mid-reply, replicas that did not confirm it), so
        // appending it again would put every update in the log twice.
        if (!stored && done.length > 1 && !(failure instanceof StorageUnavailableError)) {
          await this.#appendOneByOne(done);
          if (this.#queue.length === 0) return;
          batch = this.#takeBatch();
          appending = this.#append(batch);
          continue;
        }
        // The next batch goes to the store first; this one's fan-out then runs while it is written.
        const more = this.#queue.length > 0;
        if (more) {
          batch = this.#takeBatch();
          appending = this.#append(batch);
        }
        if (stored) {
          for (let i = 0; i < done.length; i++) done[i].resolve(stored[i]);
          this.#report(stored);
        } else {
          for (const pending of done) pending.reject(failure);
        }
        if (!more) return;
      }
    } finally {
      this.#draining = false;
    }
  }

  async #appendOneByOne(batch: Pending[]): Promise<void> {
    for (const pending of batch) {
      try {
        const stored = await this.#append([pending]);
        pending.resolve(stored[0]);
        this.#report(stored);
      } catch (error) {
        pending.reject(error);
      }
    }
  }

  #report(stored: StoredUpdate[]): void {
    for (const listener of this.#committed) listener(stored);
  }

  #takeBatch(): Pending[] {
    return this.#queue.splice(0, this.transport.batchSize(this.#queue));
  }

  async #append(batch: Pending[]): Promise<StoredUpdate[]> {
    const started = performance.now();
    try {
      const stored = await this.transport.append(batch, (request, seq, time) => {
        const { input } = request;
        const update: StoredUpdate = {
          seq,
          id: input.id ?? makeHubId(seq, this.epoch),
          topics: input.topics,
          data: input.data,
          time,
        };
        if (input.type !== undefined) update.type = input.type;
        if (input.retry !== undefined) update.retry = input.retry;
        if (input.private) update.private = true;
        if (input.priority) update.priority = input.priority;
        return update;
      }, {
        claiming: (lastSeq) => this.#committingUpTo = lastSeq,
        missed: () => {
          this.#committingUpTo = 0;
          this.stats.conflicts++;
          for (const listener of this.#missed) listener();
        },
      });
      for (const request of batch) {
        // A topic without a log of its own (`topic_logs.ts`) has nothing for retention to trim.
        for (const topic of request.input.topics) {
          if (keepsTopicLog(topic)) this.dirtyTopics.add(topic);
        }
      }
      this.stats.commits++;
      this.stats.events += batch.length;
      this.stats.lastCommitMs = performance.now() - started;
      return stored;
    } finally {
      this.#committingUpTo = 0;
    }
  }
}
