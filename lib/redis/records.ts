/**
 * The hub's small records in Redis (the `RecordStore` of the Redis engine): JSON strings under
 * `rec:<encoded key>`, a lexical index of the encoded keys for listing by prefix, and an expiry
 * index that every write sweeps. Writes, counters and transactions are Lua scripts, so each is
 * atomic across every node; a transaction commits only if every record it read is unchanged.
 *
 * @module
 */

import {
  type RecordDecision,
  type RecordKey,
  type RecordOptions,
  type RecordStore,
  StorageLimitError,
} from "../hub/mod.ts";
import { utf8ByteLength } from "../util/bytes.ts";
import type { RedisClient } from "./client.ts";
import { decodeRecordKey, encodeRecordKey, recordKeyRefusal, type RedisKeys } from "./keys.ts";
import type { RespArgument } from "./resp.ts";
import { RECORD_ADD, RECORD_DELETE, RECORD_SET, RECORD_TRANSACT } from "./scripts.ts";

/** Records as JSON strings, listed through a lexical index of their encoded keys. */
export class RedisRecords implements RecordStore {
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;

  constructor(client: RedisClient, keys: RedisKeys) {
    this.#client = client;
    this.#keys = keys;
  }

  keyRefusal(key: RecordKey): string | undefined {
    return recordKeyRefusal(key);
  }

  #scriptKeys(member: string): string[] {
    return [this.#keys.record(member), this.#keys.recordIndex, this.#keys.recordExpiry];
  }

  async get<T>(key: RecordKey): Promise<T | undefined> {
    if (this.keyRefusal(key)) return undefined;
    const text = await this.#client.command(["GET", this.#keys.record(encodeRecordKey(key))]);
    return text === null ? undefined : JSON.parse(text as string) as T;
  }

  #value(key: RecordKey, value: unknown): string {
    const refusal = this.keyRefusal(key);
    if (refusal) throw new StorageLimitError(refusal);
    const text = JSON.stringify(value) ?? "null";
    if (utf8ByteLength(text) > 60 * 1024) throw new StorageLimitError("record too large to store");
    return text;
  }

  async set(key: RecordKey, value: unknown, options: RecordOptions = {}): Promise<void> {
    const text = this.#value(key, value);
    const member = encodeRecordKey(key);
    await RECORD_SET.run(this.#client, this.#scriptKeys(member), [
      this.#keys.recordPrefix,
      member,
      text,
      ttl(options),
      "",
    ]);
  }

  async setIfAbsent(key: RecordKey, value: unknown, options: RecordOptions = {}): Promise<boolean> {
    const text = this.#value(key, value);
    const member = encodeRecordKey(key);
    const set = await RECORD_SET.run(this.#client, this.#scriptKeys(member), [
      this.#keys.recordPrefix,
      member,
      text,
      ttl(options),
      "nx",
    ]);
    return set === 1;
  }

  async delete(key: RecordKey): Promise<void> {
    if (this.keyRefusal(key)) return;
    const member = encodeRecordKey(key);
    await RECORD_DELETE.run(this.#client, this.#scriptKeys(member), [member]);
  }

  async *list<T>(
    prefix: RecordKey,
    options: { limit?: number } = {},
  ): AsyncIterable<[RecordKey, T]> {
    if (this.keyRefusal(prefix)) return;
    const encoder = new TextEncoder();
    const start = encodeRecordKey(prefix);
    const end = new Uint8Array([...encoder.encode(`[${start}`), 0xff]);
    const limit = options.limit ?? Infinity;
    let from: string | Uint8Array = `[${start}`;
    let yielded = 0;
    while (yielded < limit) {
      const members = await this.#client.command([
        "ZRANGEBYLEX",
        this.#keys.recordIndex,
        from,
        end,
        "LIMIT",
        0,
        200,
      ]) as string[];
      if (members.length === 0) return;
      const values = await this.#client.command([
        "MGET",
        ...members.map((member) => this.#keys.record(member)),
      ]) as (string | null)[];
      for (let i = 0; i < members.length && yielded < limit; i++) {
        if (values[i] === null) continue; // expired; the next write sweeps its index entry
        yielded++;
        yield [decodeRecordKey(members[i]), JSON.parse(values[i]!) as T];
      }
      if (members.length < 200) return;
      from = `(${members[members.length - 1]}`;
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
    const readKeys = keys.map((key) => this.#keys.record(encodeRecordKey(key)));
    for (let attempt = 0; attempt < 100; attempt++) {
      const texts = await this.#client.command(["MGET", ...readKeys]) as (string | null)[];
      const { writes, result } = decide(
        texts.map((text) => text === null ? undefined : JSON.parse(text)),
      );
      if (writes.length === 0) return result;
      const writeKeys: string[] = [];
      const writeArgs: RespArgument[] = [];
      for (const write of writes) {
        const member = encodeRecordKey(write.key);
        writeKeys.push(this.#keys.record(member));
        writeArgs.push(
          member,
          write.value === undefined ? "" : this.#value(write.key, write.value),
          write.value === undefined ? "" : ttl({ expireInMs: write.expireInMs }),
        );
      }
      const written = await RECORD_TRANSACT.run(
        this.#client,
        [this.#keys.recordIndex, this.#keys.recordExpiry, ...readKeys, ...writeKeys],
        [keys.length, ...texts.map((text) => text ?? ""), writes.length, ...writeArgs],
      );
      if (Number(written) === 1) return result;
    }
    throw new Error("records: too many conflicting writers");
  }

  async add(key: RecordKey, delta: number, options: RecordOptions = {}): Promise<number> {
    const refusal = this.keyRefusal(key);
    if (refusal) throw new StorageLimitError(refusal);
    const member = encodeRecordKey(key);
    const value = await RECORD_ADD.run(this.#client, this.#scriptKeys(member), [
      this.#keys.recordPrefix,
      member,
      delta,
      ttl(options),
    ]);
    return Number(value);
  }
}

function ttl(options: RecordOptions): string {
  return options.expireInMs === undefined ? "" : String(Math.max(1, Math.ceil(options.expireInMs)));
}
