/**
 * The hot tail: the newest updates of the log, kept in memory per isolate, so that a resume a few
 * seconds old (a reconnect storm, a page reload) is answered without reading the store.
 *
 * It holds the newest updates of the global log and of each exact topic, filled by the broker with
 * every update it delivers, in log order. Positions are contiguous, so the tail knows exactly which
 * ranges it holds completely: a read is answered from it only when it provably holds every
 * position of the range (else the caller reads the store), and it never answers a range that ends
 * past the last position it saw. A batch that does not follow the last position (the broker
 * skipped trimmed positions) empties it.
 *
 * Bounds: updates per topic, updates of the global log, topics followed, and bytes of each part;
 * a topic that has not been written or read for longest gives its tail up first. A topic without a
 * run of its own is answered from the global part, never with more of its updates than a run
 * holds: set the per-topic bound no higher than retention keeps per topic, and memory never
 * replays what the store has trimmed by count.
 *
 * @module
 */

import type { StoredUpdate } from "./update.ts";

/** Sizes of a {@link HotTail}. */
export interface HotTailOptions {
  /** Newest updates of the global log kept (0: none). */
  globalUpdates?: number;
  /** Newest updates kept per topic (0: no topic tails). */
  topicUpdates?: number;
  /** Topics followed at most. */
  maxTopics?: number;
  /** Bytes (estimated) kept by the global part, and by all topic tails together. */
  maxBytes?: number;
  /** Topics never followed (their updates still pass through the global part). */
  skipTopic?: (topic: string) => boolean;
}

/** Counters of a {@link HotTail}. */
export interface HotTailStats {
  /** Reads answered from memory. */
  hits: number;
  /** Reads the tail could not answer (the caller read the store). */
  misses: number;
}

/** A bounded run of the newest updates of one log, oldest first. */
class Run {
  updates: (StoredUpdate | undefined)[] = [];
  start = 0;
  bytes = 0;
  /** Every update of this log with a position above this one is held. */
  coversAfter: number;

  constructor(coversAfter: number) {
    this.coversAfter = coversAfter;
  }

  get length(): number {
    return this.updates.length - this.start;
  }

  at(index: number): StoredUpdate {
    return this.updates[this.start + index]!;
  }

  last(): StoredUpdate | undefined {
    return this.length > 0 ? this.updates[this.updates.length - 1] : undefined;
  }

  push(update: StoredUpdate, size: number): void {
    this.updates.push(update);
    this.bytes += size;
  }

  dropOldest(): number {
    const oldest = this.updates[this.start]!;
    this.updates[this.start++] = undefined;
    this.coversAfter = oldest.seq;
    const size = updateWeight(oldest);
    this.bytes -= size;
    if (this.start > 64 && this.start * 2 > this.updates.length) {
      this.updates = this.updates.slice(this.start);
      this.start = 0;
    }
    return size;
  }

  /** The updates with `afterSeq < seq <= untilSeq`, oldest first, at most `limit`. */
  range(afterSeq: number, untilSeq: number, limit: number): StoredUpdate[] {
    // The first index whose position is above afterSeq (positions increase along the run).
    let low = 0;
    let high = this.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.at(middle).seq <= afterSeq) low = middle + 1;
      else high = middle;
    }
    const found: StoredUpdate[] = [];
    for (let i = low; i < this.length && found.length < limit; i++) {
      const update = this.at(i);
      if (update.seq > untilSeq) break;
      found.push(update);
    }
    return found;
  }
}

/** What an update weighs in the tail's byte bounds: its data and topics, plus a fixed part. */
function updateWeight(update: StoredUpdate): number {
  let size = 96 + update.data.length + update.id.length;
  for (const topic of update.topics) size += topic.length;
  return size;
}

/**
 * The newest updates of a log, in memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HotTail } from "./_hot_tail.ts";
 * const tail = new HotTail({ topicUpdates: 2 });
 * tail.reset(0);
 * const update = (seq: number, topic: string) => ({ seq, id: `u${seq}`, topics: [topic], data: "", time: 0 });
 * tail.add([update(1, "a"), update(2, "b"), update(3, "a"), update(4, "a")]);
 * assert.deepEqual(tail.readTopic("a", 1, 4, 10)?.map((u) => u.seq), [3, 4]);
 * assert.equal(tail.readTopic("a", 0, 4, 10), undefined); // seq 1 left: not provably complete
 * assert.deepEqual(tail.readTopic("b", 0, 4, 10)?.map((u) => u.seq), [2]);
 * assert.deepEqual(tail.read(1, 3, 10)?.map((u) => u.seq), [2, 3]);
 * assert.equal(tail.read(1, 5, 10), undefined); // position 5 not seen yet
 * ```
 */
export class HotTail {
  readonly stats: HotTailStats = { hits: 0, misses: 0 };
  readonly #globalUpdates: number;
  readonly #topicUpdates: number;
  readonly #maxTopics: number;
  readonly #maxBytes: number;
  readonly #skipTopic: (topic: string) => boolean;
  #global = new Run(0);
  /** Topic → its run; Map order is least recently used first. */
  #topics = new Map<string, Run>();
  #topicBytes = 0;
  /** The last position seen; -1 until {@link reset}. */
  #lastSeq = -1;
  /** A topic without a run has no update above this position. */
  #untrackedSince = 0;

  constructor(options: HotTailOptions = {}) {
    this.#globalUpdates = options.globalUpdates ?? 1024;
    this.#topicUpdates = options.topicUpdates ?? 128;
    this.#maxTopics = options.maxTopics ?? 4096;
    this.#maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
    this.#skipTopic = options.skipTopic ?? (() => false);
  }

  /** The last position seen (-1 before {@link reset}). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Topics followed now. */
  get topicCount(): number {
    return this.#topics.size;
  }

  /** Forgets everything; what follows `seq` will be complete. */
  reset(seq: number): void {
    this.#global = new Run(seq);
    this.#topics.clear();
    this.#topicBytes = 0;
    this.#lastSeq = seq;
    this.#untrackedSince = seq;
  }

  /** Takes delivered updates, in log order; a batch that does not follow the last one resets. */
  add(updates: readonly StoredUpdate[]): void {
    if (this.#lastSeq < 0 || updates.length === 0) return;
    if (updates[0].seq !== this.#lastSeq + 1) this.reset(updates[0].seq - 1);
    for (const update of updates) {
      if (update.seq !== this.#lastSeq + 1) {
        // Never expected (the broker delivers contiguous batches): start again after it.
        this.reset(update.seq);
        continue;
      }
      const size = updateWeight(update);
      this.#addGlobal(update, size);
      if (this.#topicUpdates > 0) {
        for (const topic of update.topics) this.#addTopic(topic, update, size);
      }
      this.#lastSeq = update.seq;
    }
  }

  #addGlobal(update: StoredUpdate, size: number): void {
    const run = this.#global;
    if (this.#globalUpdates === 0) {
      run.coversAfter = update.seq;
      return;
    }
    run.push(update, size);
    while (run.length > this.#globalUpdates || (run.bytes > this.#maxBytes && run.length > 1)) {
      run.dropOldest();
    }
  }

  #addTopic(topic: string, update: StoredUpdate, size: number): void {
    if (this.#skipTopic(topic)) return;
    let run = this.#topics.get(topic);
    if (run === undefined) {
      run = new Run(this.#untrackedSince);
    } else {
      if (run.last() === update) return; // the same topic twice in one update
      this.#topics.delete(topic);
    }
    this.#topics.set(topic, run);
    run.push(update, size);
    this.#topicBytes += size;
    while (run.length > this.#topicUpdates) this.#topicBytes -= run.dropOldest();
    while (this.#topics.size > this.#maxTopics || this.#topicBytes > this.#maxBytes) {
      const [oldest, oldestRun] = this.#topics.entries().next().value!;
      if (oldestRun === run) {
        if (run.length <= 1) break;
        this.#topicBytes -= run.dropOldest();
        continue;
      }
      this.#forget(oldest, oldestRun);
    }
  }

  #forget(topic: string, run: Run): void {
    this.#topics.delete(topic);
    this.#topicBytes -= run.bytes;
    const newest = run.last()?.seq ?? run.coversAfter;
    if (newest > this.#untrackedSince) this.#untrackedSince = newest;
  }

  /**
   * The updates of the global log with `afterSeq < seq <= untilSeq`, oldest first, at most
   * `limit`, when the tail holds every one of those positions; else `undefined`.
   */
  read(afterSeq: number, untilSeq: number, limit: number): StoredUpdate[] | undefined {
    const run = this.#global;
    if (untilSeq > this.#lastSeq || !this.covers("*", afterSeq)) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    return run.range(afterSeq, untilSeq, limit);
  }

  /**
   * The same for one topic's log: from the topic's own run, or else from the global part (which
   * holds every position it covers) when the range holds no more of the topic than a run may.
   */
  readTopic(
    topic: string,
    afterSeq: number,
    untilSeq: number,
    limit: number,
  ): StoredUpdate[] | undefined {
    if (untilSeq > this.#lastSeq || !this.covers(topic, afterSeq)) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    if (!this.#topicCovers(topic, afterSeq)) {
      const found: StoredUpdate[] = [];
      for (const update of this.#global.range(afterSeq, untilSeq, Infinity)) {
        if (update.topics.includes(topic)) found.push(update);
        if (found.length === limit) break;
      }
      return found;
    }
    const run = this.#topics.get(topic);
    if (run === undefined) return [];
    // A topic being read stays longer.
    this.#topics.delete(topic);
    this.#topics.set(topic, run);
    return run.range(afterSeq, untilSeq, limit);
  }

  #topicCovers(topic: string, afterSeq: number): boolean {
    if (this.#topicUpdates === 0 || this.#skipTopic(topic)) return false;
    return afterSeq >= (this.#topics.get(topic)?.coversAfter ?? this.#untrackedSince);
  }

  /** How many positions of the global log it keeps at most. */
  get globalCapacity(): number {
    return this.#globalUpdates;
  }

  /**
   * Whether a read of the log (`"*"`: the global one) after `afterSeq` up to the last position
   * seen would be answered from memory.
   */
  covers(log: string, afterSeq: number): boolean {
    if (this.#lastSeq < 0 || afterSeq > this.#lastSeq) return false;
    if (log === "*") return afterSeq >= this.#global.coversAfter;
    return this.#topicCovers(log, afterSeq) || this.#globalServesTopic(log, afterSeq);
  }

  /**
   * Whether the global part can answer for a topic after `afterSeq`: it holds every position
   * since, and no more of the topic's updates than a topic's own run may hold (retention keeps
   * that many per topic, so memory never replays what the store no longer would).
   */
  #globalServesTopic(topic: string, afterSeq: number): boolean {
    if (this.#topicUpdates === 0 || afterSeq < this.#global.coversAfter) return false;
    let count = 0;
    for (const update of this.#global.range(afterSeq, this.#lastSeq, Infinity)) {
      if (update.topics.includes(topic) && ++count > this.#topicUpdates) return false;
    }
    return true;
  }
}
