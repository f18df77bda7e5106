/**
 * The Deno KV engine of the transport seam: a local SQLite file (the embedded default), KV Connect
 * (`https://…`, e.g. a self-hosted denokv), or Deno Deploy's KV.
 *
 * Appends are atomics guarded by a check on `["head"]`, so isolates, processes and Deploy
 * instances never hand out the same position twice; the rows are laid out by `log_rows.ts`, keys
 * by `keys.ts`, trimming by `retention.ts`, head notifications by `head_watch.ts`. Leases are
 * versionstamp-checked values; records share commits through a {@link KvBatchWriter}.
 *
 * @module
 */

import {
  type AppendHooks,
  type AppendRequest,
  keepsTopicLog,
  type LeaseHold,
  MAX_UPDATE_SIZE,
  OLD_MARK_SWEEP_EVERY_MS,
  type RecordDecision,
  type RecordKey,
  type RecordOptions,
  type RecordStore,
  type RetentionPolicy,
  StorageLimitError,
  type StoredUpdate,
  type Transport,
} from "../hub/mod.ts";
import { KvBatchWriter } from "./batch_writer.ts";
import { watchHead } from "./head_watch.ts";
import {
  EPOCH_KEY,
  GLOBAL_LOG,
  HEAD_KEY,
  idKey,
  leaseKey,
  recordKey,
  topicLog,
  trimmedKey,
} from "./keys.ts";
import { kvKeyFits } from "./key_size.ts";
import { type LogRow, packRows, readRange, rowUpdates } from "./log_rows.ts";
import { dropSubscriptionMarks, listTopics, trim, trimmedUpTo } from "./retention.ts";

const MAX_MUTATIONS = 900;
const MAX_BATCH_BYTES = 600 * 1024;
/** Updates in one group commit at most. */
const MAX_BATCH_UPDATES = 2000;

/** Options of {@link KvTransport}. */
export interface KvTransportOptions {
  /** The KV file, when the store is a local file (its folder is watched for other processes). */
  path?: string;
  /** How long publisher-given ids stay resolvable, ms. Default one day. */
  idTtlMs?: number;
}

interface LeaseValue {
  owner: string;
  expiresAt: number;
}

/**
 * The transport on a Deno KV store.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "./kv_transport.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * await transport.records.set(["greeting"], "hello");
 * assert.equal(await transport.records.get(["greeting"]), "hello");
 * assert.equal(await transport.records.add(["visits"], 2), 2);
 * assert.equal(await transport.headSeq(), 0);
 * transport.close();
 * ```
 */
export class KvTransport implements Transport {
  readonly name = "kv";
  /** The store (for tests and tools; the hub never uses it). */
  readonly kv: Deno.Kv;
  readonly records: RecordStore;
  #head: { seq: number; versionstamp: string | null } | undefined;
  #idTtlMs: number;
  /** When the sweep for old subscription-topic trim marks last ran. */
  #markSweepAt = 0;
  #path: string | undefined;
  #closed = new AbortController();

  constructor(kv: Deno.Kv, options: KvTransportOptions = {}) {
    this.kv = kv;
    this.#idTtlMs = options.idTtlMs ?? 86_400_000;
    this.#path = options.path;
    this.records = new KvRecords(kv);
  }

  async epoch(): Promise<number> {
    const kv = this.kv;
    let epoch = (await kv.get<number>(EPOCH_KEY)).value;
    if (epoch === null) {
      const candidate = crypto.getRandomValues(new Uint32Array(1))[0] * 1024 +
        (crypto.getRandomValues(new Uint16Array(1))[0] & 1023);
      await kv.atomic().check({ key: EPOCH_KEY, versionstamp: null }).set(EPOCH_KEY, candidate)
        .commit();
      epoch = (await kv.get<number>(EPOCH_KEY)).value!;
    }
    return epoch;
  }

  appendRefusal({ input, size }: AppendRequest): string | undefined {
    if (size > MAX_UPDATE_SIZE) return "update too large for one log entry";
    for (const topic of input.topics) {
      if (!kvKeyFits([...topicLog(topic), Number.MAX_SAFE_INTEGER])) {
        return "topic too long for the log (a KV key holds at most 2,048 bytes)";
      }
    }
    if (input.id !== undefined && !kvKeyFits(idKey(input.id))) {
      return "id too long for the log (a KV key holds at most 2,048 bytes)";
    }
    return undefined;
  }

  batchSize(queue: readonly AppendRequest[]): number {
    // Rows: the head, one per publisher-given id, and per log (global and each topic) one per
    // started 64 KiB value; counting one extra value per update's log keeps the bound safe.
    let mutations = 2;
    let bytes = 0;
    let count = 0;
    for (const { input, size } of queue) {
      const logs = 1 + input.topics.length;
      const cost = (input.id ? 1 : 0) + logs;
      const rowBytes = size * logs;
      if (
        count > 0 &&
        (count === MAX_BATCH_UPDATES || mutations + cost > MAX_MUTATIONS ||
          bytes + rowBytes > MAX_BATCH_BYTES)
      ) break;
      mutations += cost;
      bytes += rowBytes;
      count++;
    }
    return Math.max(1, count);
  }

  async append(
    batch: readonly AppendRequest[],
    stamp: (request: AppendRequest, seq: number, time: number) => StoredUpdate,
    hooks: AppendHooks,
  ): Promise<StoredUpdate[]> {
    for (let attempt = 0;; attempt++) {
      if (!this.#head) {
        const entry = await this.kv.get<number>(HEAD_KEY);
        this.#head = { seq: entry.value ?? 0, versionstamp: entry.versionstamp };
      }
      const time = Date.now();
      const first = this.#head.seq + 1;
      const atomic = this.kv.atomic().check({
        key: HEAD_KEY,
        versionstamp: this.#head.versionstamp,
      });
      const byTopic = new Map<string, StoredUpdate[]>();
      const sizes = new Map<StoredUpdate, number>();
      const stored = batch.map((request, index) => {
        const seq = first + index;
        const update = stamp(request, seq, time);
        for (const topic of new Set(update.topics)) {
          if (!keepsTopicLog(topic)) continue;
          const updates = byTopic.get(topic);
          if (updates) updates.push(update);
          else byTopic.set(topic, [update]);
        }
        if (request.input.id !== undefined) {
          atomic.set(idKey(request.input.id), seq, { expireIn: this.#idTtlMs });
        }
        sizes.set(update, request.size);
        return update;
      });
      for (const row of packRows(stored, sizes)) atomic.set([...GLOBAL_LOG, row[0].seq], row);
      for (const [topic, updates] of byTopic) {
        for (const row of packRows(updates, sizes)) {
          atomic.set([...topicLog(topic), row[0].seq], row);
        }
      }
      const last = first + batch.length - 1;
      atomic.set(HEAD_KEY, last);
      hooks.claiming(last);
      let result: Deno.KvCommitResult | Deno.KvCommitError;
      try {
        result = await atomic.commit();
      } catch (error) {
        this.#head = undefined;
        hooks.missed();
        throw error;
      }
      if (result.ok) {
        this.#head = { seq: last, versionstamp: result.versionstamp };
        return stored;
      }
      this.#head = undefined;
      hooks.missed();
      if (attempt > 1000) throw new Error("event log: too many commit conflicts");
    }
  }

  async headSeq(): Promise<number> {
    return (await this.kv.get<number>(HEAD_KEY)).value ?? 0;
  }

  read(afterSeq: number, untilSeq: number, limit: number): Promise<StoredUpdate[]> {
    return readRange(this.kv, GLOBAL_LOG, afterSeq, untilSeq, limit);
  }

  readTopic(
    topic: string,
    afterSeq: number,
    untilSeq: number,
    limit: number,
  ): Promise<StoredUpdate[]> {
    if (!kvKeyFits([...topicLog(topic), 0])) return Promise.resolve([]);
    return readRange(this.kv, topicLog(topic), afterSeq, untilSeq, limit);
  }

  async seqOfId(id: string): Promise<number | undefined> {
    // An id too long to be a key was never stored: unknown, not an error.
    if (!kvKeyFits(idKey(id))) return undefined;
    return (await this.kv.get<number>(idKey(id))).value ?? undefined;
  }

  async newest(topic: string): Promise<StoredUpdate | undefined> {
    if (!kvKeyFits([...topicLog(topic), 0])) return undefined;
    const rows = this.kv.list<LogRow>({ prefix: topicLog(topic) }, { reverse: true, limit: 1 });
    for await (const entry of rows) return rowUpdates(entry.value).at(-1);
    return undefined;
  }

  async seqBeforeNewest(topic: string, count: number): Promise<number> {
    let seq = 0;
    let seen = 0;
    if (count <= 0) return this.headSeq();
    if (!kvKeyFits([...topicLog(topic), 0])) return 0;
    for await (
      const entry of this.kv.list<LogRow>({ prefix: topicLog(topic) }, { reverse: true })
    ) {
      const updates = rowUpdates(entry.value);
      for (let i = updates.length - 1; i >= 0; i--) {
        seq = updates[i].seq - 1;
        if (++seen === count) return seq;
      }
    }
    return seq;
  }

  async oldestSeq(): Promise<number> {
    for await (const entry of this.kv.list<LogRow>({ prefix: GLOBAL_LOG }, { limit: 1 })) {
      return rowUpdates(entry.value)[0].seq;
    }
    return (await this.headSeq()) + 1;
  }

  trimmedUpTo(log: string): Promise<number> {
    if (!kvKeyFits(trimmedKey(log))) return Promise.resolve(0);
    return trimmedUpTo(this.kv, log);
  }

  listTopics(): Promise<string[]> {
    return listTopics(this.kv);
  }

  async trim(topics: Iterable<string>, policy: RetentionPolicy, now?: number): Promise<number> {
    const deleted = await trim(this.kv, topics, policy, now);
    if (Date.now() - this.#markSweepAt >= OLD_MARK_SWEEP_EVERY_MS) {
      this.#markSweepAt = Date.now();
      await dropSubscriptionMarks(this.kv);
    }
    return deleted;
  }

  watchHead(onHead: (seq: number) => void, signal: AbortSignal): void {
    watchHead(this.kv, onHead, {
      path: this.#path,
      signal: AbortSignal.any([signal, this.#closed.signal]),
      onError: (what, error) =>
        console.error(
          JSON.stringify({ level: "warn", msg: `${what} ended`, error: String(error) }),
        ),
    });
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<LeaseHold | undefined> {
    const key = leaseKey(name);
    const current = await this.kv.get<LeaseValue>(key);
    if (current.value && current.value.expiresAt > Date.now() && current.value.owner !== owner) {
      return undefined;
    }
    const result = await this.kv.atomic().check(current)
      .set(key, { owner, expiresAt: Date.now() + ttlMs } satisfies LeaseValue).commit();
    return result.ok ? { name, owner, version: result.versionstamp } : undefined;
  }

  async renewLease(hold: LeaseHold, ttlMs: number): Promise<LeaseHold | undefined> {
    const key = leaseKey(hold.name);
    const result = await this.kv.atomic().check({ key, versionstamp: hold.version as string })
      .set(key, { owner: hold.owner, expiresAt: Date.now() + ttlMs } satisfies LeaseValue)
      .commit();
    return result.ok ? { ...hold, version: result.versionstamp } : undefined;
  }

  async releaseLease(hold: LeaseHold): Promise<void> {
    const key = leaseKey(hold.name);
    await this.kv.atomic().check({ key, versionstamp: hold.version as string }).delete(key)
      .commit();
  }

  async ping(): Promise<void> {
    await this.kv.get(HEAD_KEY);
  }

  close(): void {
    this.#closed.abort();
    this.kv.close();
  }
}

/** Records under `["rec", …]`, sets and deletes batched into shared commits. */
class KvRecords implements RecordStore {
  readonly #kv: Deno.Kv;
  readonly #writer: KvBatchWriter;

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
    this.#writer = new KvBatchWriter(kv);
  }

  keyRefusal(key: RecordKey): string | undefined {
    return kvKeyFits(recordKey(key)) ? undefined : "key too long to store (at most 2,048 bytes)";
  }

  async get<T>(key: RecordKey): Promise<T | undefined> {
    if (this.keyRefusal(key)) return undefined;
    return (await this.#kv.get<T>(recordKey(key))).value ?? undefined;
  }

  set(key: RecordKey, value: unknown, options: RecordOptions = {}): Promise<void> {
    const refusal = this.keyRefusal(key);
    if (refusal) return Promise.reject(new StorageLimitError(refusal));
    // Estimated stored size: strings at up to 2 bytes a character.
    const size = 64 + 2 * (JSON.stringify(key).length + (JSON.stringify(value)?.length ?? 0));
    if (size > 60 * 1024) return Promise.reject(new StorageLimitError("record too large to store"));
    return this.#writer.set(recordKey(key), value, { expireIn: options.expireInMs, size });
  }

  async setIfAbsent(key: RecordKey, value: unknown, options: RecordOptions = {}): Promise<boolean> {
    const refusal = this.keyRefusal(key);
    if (refusal) throw new StorageLimitError(refusal);
    const stored = recordKey(key);
    const result = await this.#kv.atomic().check({ key: stored, versionstamp: null })
      .set(stored, value, { expireIn: options.expireInMs }).commit();
    return result.ok;
  }

  delete(key: RecordKey): Promise<void> {
    if (this.keyRefusal(key)) return Promise.resolve();
    return this.#writer.delete(recordKey(key));
  }

  async *list<T>(
    prefix: RecordKey,
    options: { limit?: number } = {},
  ): AsyncIterable<[RecordKey, T]> {
    if (this.keyRefusal(prefix)) return;
    const entries = this.#kv.list<T>({ prefix: recordKey(prefix) }, { limit: options.limit });
    for await (const entry of entries) {
      yield [entry.key.slice(1) as RecordKey, entry.value];
    }
  }

  async transact<T>(
    keys: readonly RecordKey[],
    decide: (values: unknown[]) => RecordDecision<T>,
  ): Promise<T> {
    for (const key of keys) {
      const refusal = this.keyRefusal(key);
      if (refusal) throw new StorageLimitError(refusal);
    }
    const stored = keys.map(recordKey);
    for (let attempt = 0; attempt < 100; attempt++) {
      const entries: Deno.KvEntryMaybe<unknown>[] = [];
      for (let start = 0; start < stored.length; start += 10) {
        entries.push(...await this.#kv.getMany(stored.slice(start, start + 10)));
      }
      const { writes, result } = decide(entries.map((entry) => entry.value ?? undefined));
      const atomic = this.#kv.atomic();
      for (const entry of entries) atomic.check(entry);
      for (const write of writes) {
        const refusal = this.keyRefusal(write.key);
        if (refusal) throw new StorageLimitError(refusal);
        if (write.value === undefined) atomic.delete(recordKey(write.key));
        else atomic.set(recordKey(write.key), write.value, { expireIn: write.expireInMs });
      }
      if ((await atomic.commit()).ok) return result;
    }
    throw new Error("records: too many conflicting writers");
  }

  async add(key: RecordKey, delta: number, options: RecordOptions = {}): Promise<number> {
    const refusal = this.keyRefusal(key);
    if (refusal) throw new StorageLimitError(refusal);
    const stored = recordKey(key);
    while (true) {
      const current = await this.#kv.get<number>(stored);
      const next = (current.value ?? 0) + delta;
      const result = await this.#kv.atomic().check(current)
        .set(stored, next, { expireIn: options.expireInMs }).commit();
      if (result.ok) return next;
    }
  }
}
