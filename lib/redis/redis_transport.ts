/**
 * The Redis engine of the transport seam (`TIDINGS_REDIS_URL`): every node of a cluster shares one
 * Redis for the log, the head, leases and records, so a subscriber on any node sees every update
 * published on any node, in one order, and resumes on any node.
 *
 * - **The log** is Redis Streams: one global stream (`log`) and one per topic (`topic:<t>`),
 *   whose entry ids are the positions themselves (`<seq>-0`), so a range read is one XRANGE. An
 *   append is one Lua script that checks the head is still the one this node saw, adds the batch
 *   to the global stream and to each topic's, remembers publisher-given ids, and moves the head:
 *   positions are contiguous across every node. (The seam stamps each update, its id included,
 *   before the write, so the position must be known beforehand: a compare-and-append script,
 *   answered with the current head when it misses, costs one round trip per attempt and never
 *   leaves a hole, where reserving positions first could leave one if a node died in between.)
 * - **The head watch** follows the global stream with `XREAD BLOCK` on a connection of its own,
 *   from the last position it reported, with a `GET` of the head pipelined behind it (so the new
 *   head comes back with the wake-up): nothing appended in between can be missed, and there is no
 *   separate pub/sub to reconcile with the log.
 * - **Retention** trims each stream exactly (`XTRIM MINID`) in a script that records how far it
 *   went, as the KV engine does.
 * - **Leases** are `SET … PX` values holding owner and token, taken, renewed and released by
 *   compare-and-set scripts. **Records** are `records.ts`'s.
 *
 * When Redis cannot be reached, calls fail with a `StorageUnavailableError` (publishes answer 503
 * with `Retry-After`), the head watch retries with backoff, and the broker catches up from the log
 * when Redis is back.
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
  type RecordStore,
  type RetentionPolicy,
  StorageUnavailableError,
  type StoredUpdate,
  SUBSCRIPTION_TOPIC_PREFIX,
  type Transport,
} from "../hub/mod.ts";
import { utf8ByteLength } from "../util/bytes.ts";
import { RedisClient, type RedisClientOptions } from "./client.ts";
import { MAX_KEY_BYTES, RedisKeys } from "./keys.ts";
import { RedisRecords } from "./records.ts";
import type { RespValue } from "./resp.ts";
import {
  APPEND,
  LEASE_ACQUIRE,
  LEASE_RELEASE,
  LEASE_RENEW,
  SEQ_BEFORE_NEWEST,
  TRIM,
} from "./scripts.ts";
import type { RedisAddress } from "./url.ts";

/** Updates in one append at most. */
const MAX_BATCH_UPDATES = 1000;
/** Estimated bytes of one append at most (the update once per log it goes to). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** Entries per XRANGE page. */
const READ_PAGE = 200;
/** How long one XREAD BLOCK waits before asking again, ms. */
const BLOCK_MS = 5000;

/** Options of {@link RedisTransport}. */
export interface RedisTransportOptions {
  /** Where Redis is (see `url.ts`). */
  address: RedisAddress;
  /** Prefix of every key. Default `tidings:`. */
  prefix?: string;
  /** How long publisher-given ids stay resolvable, ms. Default one day. */
  idTtlMs?: number;
  /** Replicas that must have each append before it is acknowledged (`WAIT`). Default 0. */
  waitReplicas?: number;
  /** How long to wait for them, ms. Default 1000. */
  waitTimeoutMs?: number;
  /** Options of the connections (timeouts, backoff, bounds). */
  client?: Omit<RedisClientOptions, "address">;
}

/**
 * The transport on a Redis server.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { RedisTransport } from "./redis_transport.ts";
 * import { parseRedisUrl } from "./url.ts";
 * const transport = new RedisTransport({ address: parseRedisUrl("redis://127.0.0.1:6379") });
 * await transport.records.set(["greeting"], "hello");
 * assert.equal(await transport.records.get(["greeting"]), "hello");
 * transport.close();
 * ```
 */
export class RedisTransport implements Transport {
  readonly name = "redis";
  readonly records: RecordStore;
  readonly keys: RedisKeys;
  /** The connection of every command but the head watch's. */
  readonly client: RedisClient;
  #options: RedisTransportOptions;
  #idTtlMs: number;
  #head: number | undefined;
  /** Where the sweep for subscription-topic trim marks left by earlier versions goes on. */
  #markSweep = "0";
  #markSweepAt = 0;
  #closed = new AbortController();
  #watchers = new Set<RedisClient>();

  constructor(options: RedisTransportOptions) {
    this.#options = options;
    this.keys = new RedisKeys(options.prefix ?? "tidings:");
    this.#idTtlMs = options.idTtlMs ?? 86_400_000;
    this.client = new RedisClient({
      ...options.client,
      address: options.address,
      limits: { maxBulkBytes: 8 * 1024 * 1024, maxBufferBytes: 256 * 1024 * 1024 },
    });
    this.records = new RedisRecords(this.client, this.keys);
  }

  async epoch(): Promise<number> {
    const candidate = crypto.getRandomValues(new Uint32Array(1))[0] * 1024 +
      (crypto.getRandomValues(new Uint16Array(1))[0] & 1023);
    const [, epoch] = await this.client.pipeline([
      ["SET", this.keys.epoch, candidate, "NX"],
      ["GET", this.keys.epoch],
    ]);
    return Number(epoch);
  }

  appendRefusal({ input, size }: AppendRequest): string | undefined {
    if (size > MAX_UPDATE_SIZE) return "update too large for one log entry";
    for (const topic of input.topics) {
      if (utf8ByteLength(topic) > MAX_KEY_BYTES) {
        return `topic too long for the log (at most ${MAX_KEY_BYTES.toLocaleString("en")} bytes)`;
      }
    }
    if (input.id !== undefined && utf8ByteLength(input.id) > MAX_KEY_BYTES) {
      return `id too long for the log (at most ${MAX_KEY_BYTES.toLocaleString("en")} bytes)`;
    }
    return undefined;
  }

  batchSize(queue: readonly AppendRequest[]): number {
    let bytes = 0;
    let count = 0;
    for (const { input, size } of queue) {
      const cost = size * (1 + input.topics.length);
      if (count > 0 && (count === MAX_BATCH_UPDATES || bytes + cost > MAX_BATCH_BYTES)) break;
      bytes += cost;
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
      let head: number;
      try {
        head = this.#head ?? await this.headSeq();
      } catch (error) {
        hooks.missed();
        throw error;
      }
      const time = Date.now();
      const args: (string | number)[] = [head, batch.length, this.#idTtlMs, this.keys.prefix];
      const stored = batch.map((request, index) => {
        const update = stamp(request, head + 1 + index, time);
        const topics = [...new Set(update.topics)].filter(keepsTopicLog);
        args.push(JSON.stringify(update), time, request.input.id ?? "", topics.length, ...topics);
        return update;
      });
      const last = head + batch.length;
      hooks.claiming(last);
      let reply: RespValue;
      try {
        reply = await APPEND.run(
          this.client,
          [this.keys.head, this.keys.log, this.keys.topics],
          args,
        );
      } catch (error) {
        this.#head = undefined;
        hooks.missed();
        throw error;
      }
      const [ok, current] = reply as [number, number];
      if (ok === 1) {
        this.#head = last;
        await this.#waitForReplicas(hooks);
        return stored;
      }
      this.#head = current;
      hooks.missed();
      if (attempt > 1000) throw new Error("event log: too many append conflicts");
    }
  }

  async #waitForReplicas(hooks: AppendHooks): Promise<void> {
    const replicas = this.#options.waitReplicas ?? 0;
    if (replicas <= 0) return;
    const timeout = this.#options.waitTimeoutMs ?? 1000;
    let acknowledged: number;
    try {
      acknowledged = await this.client.command(["WAIT", replicas, timeout], {
        timeoutMs: timeout + 5000,
      }) as number;
    } catch (error) {
      // The append landed whatever became of WAIT: never "not written", and the broker is told
      // to read it from the log.
      hooks.missed();
      throw new StorageUnavailableError(
        `Redis replicas could not be asked to confirm the update: ${(error as Error).message}`,
        {
          maybeWritten: true,
          retryAfterSeconds: error instanceof StorageUnavailableError
            ? error.retryAfterSeconds
            : undefined,
          cause: error,
        },
      );
    }
    if (acknowledged < replicas) {
      // The primary has the updates (subscribers will see them); the publisher learns that
      // they are not on enough replicas yet.
      hooks.missed();
      throw new StorageUnavailableError(
        `only ${acknowledged} of ${replicas} Redis replicas confirmed the update in ${timeout} ms`,
        { maybeWritten: true },
      );
    }
  }

  async headSeq(): Promise<number> {
    const head = Number(await this.client.command(["GET", this.keys.head]) ?? 0);
    return head;
  }

  read(afterSeq: number, untilSeq: number, limit: number): Promise<StoredUpdate[]> {
    return this.#range(this.keys.log, afterSeq, untilSeq, limit);
  }

  readTopic(
    topic: string,
    afterSeq: number,
    untilSeq: number,
    limit: number,
  ): Promise<StoredUpdate[]> {
    if (utf8ByteLength(topic) > MAX_KEY_BYTES) return Promise.resolve([]);
    return this.#range(this.keys.topic(topic), afterSeq, untilSeq, limit);
  }

  async #range(
    key: string,
    afterSeq: number,
    untilSeq: number,
    limit: number,
  ): Promise<StoredUpdate[]> {
    const updates: StoredUpdate[] = [];
    let from = Math.max(0, Math.floor(afterSeq)) + 1;
    const until = Math.floor(untilSeq);
    while (updates.length < limit && from <= until) {
      const count = Math.min(READ_PAGE, limit - updates.length);
      const entries = await this.client.command([
        "XRANGE",
        key,
        `${from}-0`,
        `${until}-0`,
        "COUNT",
        count,
      ]) as Entry[];
      for (const entry of entries) updates.push(entryUpdate(entry));
      if (entries.length < count) break;
      from = updates[updates.length - 1].seq + 1;
    }
    return updates;
  }

  async seqOfId(id: string): Promise<number | undefined> {
    if (utf8ByteLength(id) > MAX_KEY_BYTES) return undefined;
    const seq = await this.client.command(["GET", this.keys.id(id)]);
    return seq === null ? undefined : Number(seq);
  }

  async newest(topic: string): Promise<StoredUpdate | undefined> {
    if (utf8ByteLength(topic) > MAX_KEY_BYTES) return undefined;
    const entries = await this.client.command([
      "XREVRANGE",
      this.keys.topic(topic),
      "+",
      "-",
      "COUNT",
      1,
    ]) as Entry[];
    return entries.length > 0 ? entryUpdate(entries[0]) : undefined;
  }

  async seqBeforeNewest(topic: string, count: number): Promise<number> {
    if (count <= 0) return this.headSeq();
    if (utf8ByteLength(topic) > MAX_KEY_BYTES) return 0;
    return Number(await SEQ_BEFORE_NEWEST.run(this.client, [this.keys.topic(topic)], [count]));
  }

  async oldestSeq(): Promise<number> {
    const [entries, head] = await this.client.pipeline([
      ["XRANGE", this.keys.log, "-", "+", "COUNT", 1],
      ["GET", this.keys.head],
    ]);
    if (Array.isArray(entries) && entries.length > 0) return entrySeq(entries[0] as Entry);
    return Number(head ?? 0) + 1;
  }

  async trimmedUpTo(log: string): Promise<number> {
    if (utf8ByteLength(log) > MAX_KEY_BYTES) return 0;
    return Number(await this.client.command(["GET", this.keys.trimmed(log)]) ?? 0);
  }

  async listTopics(): Promise<string[]> {
    const topics: string[] = [];
    let cursor = "0";
    do {
      const [next, page] = await this.client.command([
        "SSCAN",
        this.keys.topics,
        cursor,
        "COUNT",
        500,
      ]) as [string, string[]];
      topics.push(...page);
      cursor = next;
    } while (cursor !== "0");
    return [...new Set(topics)];
  }

  async trim(topics: Iterable<string>, policy: RetentionPolicy, now = Date.now()): Promise<number> {
    const oldestTime = now - policy.maxAgeMs;
    let deleted = 0;
    for (const topic of new Set(topics)) {
      if (utf8ByteLength(topic) > MAX_KEY_BYTES) continue;
      if (!keepsTopicLog(topic)) {
        // A log an earlier version kept for a subscription topic: nothing reads it any more.
        const [length] = await this.client.pipeline([
          ["XLEN", this.keys.topic(topic)],
          ["DEL", this.keys.topic(topic), this.keys.trimmed(topic)],
          ["SREM", this.keys.topics, topic],
        ]);
        deleted += Number(length);
        continue;
      }
      deleted += Number(
        await TRIM.run(this.client, [
          this.keys.topic(topic),
          this.keys.trimmed(topic),
          this.keys.topics,
        ], [policy.perTopic, oldestTime, topic]),
      );
    }
    deleted += Number(
      await TRIM.run(this.client, [this.keys.log, this.keys.trimmed("*"), this.keys.topics], [
        policy.global,
        oldestTime,
        "",
      ]),
    );
    if (Date.now() - this.#markSweepAt >= OLD_MARK_SWEEP_EVERY_MS) {
      this.#markSweepAt = Date.now();
      await this.#sweepSubscriptionMarks();
    }
    return deleted;
  }

  /**
   * One step of a sweep through the keyspace for the trim marks earlier versions left for
   * subscription topics (one per subscription ever made, after retention emptied its stream):
   * `SCAN` of up to 1,000 keys, at most once a minute, the matches deleted. Nothing else reads them.
   */
  async #sweepSubscriptionMarks(): Promise<void> {
    const pattern = this.keys.trimmed(SUBSCRIPTION_TOPIC_PREFIX).replace(/[*?[\]\\]/g, "\\$&");
    const [next, found] = await this.client.command([
      "SCAN",
      this.#markSweep,
      "MATCH",
      `${pattern}*`,
      "COUNT",
      1000,
    ]) as [string, string[]];
    this.#markSweep = next;
    if (found.length > 0) await this.client.command(["DEL", ...found]);
  }

  watchHead(onHead: (seq: number) => void, signal: AbortSignal): void {
    const stop = AbortSignal.any([signal, this.#closed.signal]);
    if (stop.aborted) return;
    const watcher = new RedisClient({
      ...this.#options.client,
      address: this.#options.address,
      limits: { maxBulkBytes: 8 * 1024 * 1024 },
    });
    this.#watchers.add(watcher);
    stop.addEventListener("abort", () => {
      this.#watchers.delete(watcher);
      watcher.close();
    }, { once: true });
    (async () => {
      let last: number | undefined;
      let failures = 0;
      while (!stop.aborted) {
        try {
          if (last === undefined) {
            // From the head now (again after an outage: what came meanwhile is reported at once).
            last = Number(await watcher.command(["GET", this.keys.head]) ?? 0);
            onHead(last);
          }
          // The GET is sent with the XREAD, so Redis runs it the moment the XREAD is served
          // and the new head arrives with the wake-up (no second round trip).
          const timeoutMs = BLOCK_MS + 5000;
          const [, headValue] = await Promise.all([
            watcher.command(
              ["XREAD", "COUNT", 1, "BLOCK", BLOCK_MS, "STREAMS", this.keys.log, `${last}-0`],
              { timeoutMs },
            ),
            watcher.command(["GET", this.keys.head], { timeoutMs }),
          ]);
          failures = 0;
          const head = Number(headValue ?? 0);
          if (head > last) {
            last = head;
            onHead(head);
          }
        } catch {
          if (stop.aborted) return;
          last = undefined;
          const wait = Math.max(watcher.retryInMs, Math.min(2000, 50 * 2 ** failures++));
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, wait * (0.5 + Math.random() / 2));
            stop.addEventListener("abort", () => {
              clearTimeout(timer);
              resolve();
            }, { once: true });
          });
        }
      }
    })();
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<LeaseHold | undefined> {
    const value = `${owner}\n${crypto.randomUUID()}`;
    const taken = await LEASE_ACQUIRE.run(this.client, [this.keys.lease(name)], [
      owner,
      value,
      Math.max(1, Math.ceil(ttlMs)),
    ]);
    return taken === 1 ? { name, owner, version: value } : undefined;
  }

  async renewLease(hold: LeaseHold, ttlMs: number): Promise<LeaseHold | undefined> {
    const renewed = await LEASE_RENEW.run(this.client, [this.keys.lease(hold.name)], [
      hold.version as string,
      Math.max(1, Math.ceil(ttlMs)),
    ]);
    return renewed === 1 ? hold : undefined;
  }

  async releaseLease(hold: LeaseHold): Promise<void> {
    await LEASE_RELEASE.run(this.client, [this.keys.lease(hold.name)], [hold.version as string]);
  }

  async ping(): Promise<void> {
    await this.client.command(["PING"], { timeoutMs: 1000 });
  }

  close(): void {
    this.#closed.abort();
    for (const watcher of this.#watchers) watcher.close();
    this.client.close();
  }
}

/** A stream entry as XRANGE returns it: `[id, [field, value, …]]`. */
type Entry = [string, string[]];

function entrySeq(entry: Entry): number {
  return Number(entry[0].slice(0, entry[0].indexOf("-")));
}

function entryUpdate(entry: Entry): StoredUpdate {
  const fields = entry[1];
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === "u") return JSON.parse(fields[i + 1]) as StoredUpdate;
  }
  throw new Error(`log entry ${entry[0]} holds no update`);
}
