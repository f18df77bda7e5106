/**
 * The durable event log in Deno KV: the truth every subscriber is served from.
 *
 * Every update gets the next position of one hub-wide, contiguous sequence and is written to the
 * global log and to the log of each of its topics before its publisher is answered. Concurrent
 * appends are group-committed: one atomic carries many updates, guarded by a check on `["head"]`
 * so isolates, processes and Deploy instances never hand out the same position twice.
 *
 * A commit stores its updates packed: the global log gets one value per commit
 * (`["log", firstSeq]` → updates), each topic one value with that topic's updates
 * (`["topic", topic, firstSeq]` → updates), split only where a value would pass KV's 64 KiB. A KV
 * commit costs by the row, so packing is what lets one commit carry hundreds of updates cheaply.
 *
 * @module
 */

import { HEAD, LogReader } from "./log_reader.ts";
import {
  estimateUpdateSize,
  makeHubId,
  MAX_UPDATE_SIZE,
  type StoredUpdate,
  type UpdateInput,
} from "./update.ts";

const EPOCH: Deno.KvKey = ["meta", "epoch"];
const MAX_MUTATIONS = 900;
const MAX_BATCH_BYTES = 600 * 1024;
/** Updates in one group commit at most. */
const MAX_BATCH_UPDATES = 2000;

interface Pending {
  input: UpdateInput;
  size: number;
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
 * The append side of the log (reading is {@link LogReader}'s).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventLog } from "./event_log.ts";
 * const kv = await Deno.openKv(":memory:");
 * const log = await EventLog.open(kv);
 * const stored = await log.append({ topics: ["news"], data: "hello", id: "greeting" });
 * assert.deepEqual([stored.seq, stored.id, stored.data], [1, "greeting", "hello"]);
 * kv.close();
 * ```
 */
export class EventLog extends LogReader {
  /** The hub's epoch, part of every generated id. */
  readonly epoch: number;
  /** Called after each successful commit with its updates, in order. */
  onCommit: (updates: StoredUpdate[]) => void = () => {};
  /** Called after a commit attempt that did not land (a conflict or an error). */
  onCommitMissed: () => void = () => {};
  /** Called with the duration of each successful commit, ms. */
  onCommitTimed: (ms: number) => void = () => {};
  /** Topics appended to since the retention job last took them. */
  readonly dirtyTopics: Set<string> = new Set();
  readonly stats: CommitStats = { commits: 0, conflicts: 0, events: 0, lastCommitMs: 0 };
  #queue: Pending[] = [];
  #draining = false;
  #head: { seq: number; versionstamp: string | null } | undefined;
  #committingUpTo = 0;
  #idTtlMs: number;

  private constructor(kv: Deno.Kv, epoch: number, idTtlMs: number) {
    super(kv);
    this.epoch = epoch;
    this.#idTtlMs = idTtlMs;
  }

  /**
   * Opens the log in `kv`, creating the hub epoch on first use.
   */
  static async open(kv: Deno.Kv, options: { idTtlMs?: number } = {}): Promise<EventLog> {
    let epoch = (await kv.get<number>(EPOCH)).value;
    if (epoch === null) {
      const candidate = crypto.getRandomValues(new Uint32Array(1))[0] * 1024 +
        (crypto.getRandomValues(new Uint16Array(1))[0] & 1023);
      await kv.atomic().check({ key: EPOCH, versionstamp: null }).set(EPOCH, candidate).commit();
      epoch = (await kv.get<number>(EPOCH)).value!;
    }
    return new EventLog(kv, epoch, options.idTtlMs ?? 86_400_000);
  }

  /**
   * Appends an update; resolves once it is durable in KV, with its position and id.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { EventLog } from "./event_log.ts";
   * const kv = await Deno.openKv(":memory:");
   * const log = await EventLog.open(kv);
   * const [a, b] = await Promise.all([
   *   log.append({ topics: ["t"], data: "1" }),
   *   log.append({ topics: ["t"], data: "2" }),
   * ]);
   * assert.deepEqual([a.seq, b.seq], [1, 2]);
   * kv.close();
   * ```
   */
  append(input: UpdateInput): Promise<StoredUpdate> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ input, size: estimateUpdateSize(input), resolve, reject });
      if (!this.#draining) this.#drain();
    });
  }

  /**
   * The position of the last update of the commit in flight, 0 when none: a head at or below it
   * may be this isolate's own commit, about to be reported by `onCommit`.
   */
  get committingUpTo(): number {
    return this.#committingUpTo;
  }

  /** Updates waiting for their commit. */
  get pending(): number {
    return this.#queue.length;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      let batch = this.#takeBatch();
      let committing = this.#commit(batch);
      while (true) {
        let stored: StoredUpdate[] | undefined;
        let failure: unknown;
        try {
          stored = await committing;
        } catch (error) {
          failure = error;
        }
        const done = batch;
        // The next commit goes to KV first; this one's fan-out then runs while KV writes it.
        const more = this.#queue.length > 0;
        if (more) {
          batch = this.#takeBatch();
          committing = this.#commit(batch);
        }
        if (stored) {
          for (let i = 0; i < done.length; i++) done[i].resolve(stored[i]);
          this.onCommit(stored);
        } else {
          for (const pending of done) pending.reject(failure);
        }
        if (!more) return;
      }
    } finally {
      this.#draining = false;
    }
  }

  #takeBatch(): Pending[] {
    // Rows: the head, one per publisher-given id, and per log (global and each topic) one per
    // started 64 KiB value; counting one extra value per update's log keeps the bound safe.
    let mutations = 2;
    let bytes = 0;
    let count = 0;
    for (const pending of this.#queue) {
      const logs = 1 + pending.input.topics.length;
      const cost = (pending.input.id ? 1 : 0) + logs;
      const size = pending.size * logs;
      if (
        count > 0 &&
        (count === MAX_BATCH_UPDATES || mutations + cost > MAX_MUTATIONS ||
          bytes + size > MAX_BATCH_BYTES)
      ) break;
      mutations += cost;
      bytes += size;
      count++;
    }
    return this.#queue.splice(0, count);
  }

  async #commit(batch: Pending[]): Promise<StoredUpdate[]> {
    const started = performance.now();
    for (let attempt = 0;; attempt++) {
      if (!this.#head) {
        const entry = await this.kv.get<number>(HEAD);
        this.#head = { seq: entry.value ?? 0, versionstamp: entry.versionstamp };
      }
      const time = Date.now();
      const first = this.#head.seq + 1;
      const atomic = this.kv.atomic().check({ key: HEAD, versionstamp: this.#head.versionstamp });
      const byTopic = new Map<string, StoredUpdate[]>();
      const sizes = new Map<StoredUpdate, number>();
      const stored: StoredUpdate[] = batch.map(({ input, size }, index) => {
        const seq = first + index;
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
        for (const topic of new Set(input.topics)) {
          const updates = byTopic.get(topic);
          if (updates) updates.push(update);
          else byTopic.set(topic, [update]);
        }
        if (input.id !== undefined) atomic.set(["id", input.id], seq, { expireIn: this.#idTtlMs });
        sizes.set(update, size);
        return update;
      });
      for (const chunk of packed(stored, sizes)) atomic.set(["log", chunk[0].seq], chunk);
      for (const [topic, updates] of byTopic) {
        for (const chunk of packed(updates, sizes)) {
          atomic.set(["topic", topic, chunk[0].seq], chunk);
        }
        this.dirtyTopics.add(topic);
      }
      const last = first + batch.length - 1;
      atomic.set(HEAD, last);
      this.#committingUpTo = last;
      let result: Deno.KvCommitResult | Deno.KvCommitError;
      try {
        result = await atomic.commit();
      } catch (error) {
        this.#committingUpTo = 0;
        this.onCommitMissed();
        throw error;
      }
      this.#committingUpTo = 0;
      if (result.ok) {
        this.#head = { seq: last, versionstamp: result.versionstamp };
        this.stats.commits++;
        this.stats.events += batch.length;
        this.stats.lastCommitMs = performance.now() - started;
        this.onCommitTimed(this.stats.lastCommitMs);
        return stored;
      }
      this.stats.conflicts++;
      this.#head = undefined;
      this.onCommitMissed();
      if (attempt > 1000) throw new Error("event log: too many commit conflicts");
    }
  }
}

/** Splits updates (in log order) into runs that each fit one KV value. */
function packed(updates: StoredUpdate[], sizes: Map<StoredUpdate, number>): StoredUpdate[][] {
  const chunks: StoredUpdate[][] = [];
  let chunk: StoredUpdate[] = [];
  let bytes = 0;
  for (const update of updates) {
    const size = sizes.get(update)!;
    if (chunk.length > 0 && bytes + size > MAX_UPDATE_SIZE) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(update);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
