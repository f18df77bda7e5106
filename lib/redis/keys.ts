/**
 * Every Redis key tidings writes, under one prefix (`tidings:` unless told otherwise):
 *
 * | key                                   | type   | value                                    |
 * | ------------------------------------- | ------ | ---------------------------------------- |
 * | `head`                                | string | the newest position                      |
 * | `epoch`                               | string | the store's epoch                        |
 * | `log`                                 | stream | every update, entry id `<seq>-0`         |
 * | `topic:<topic>`                       | stream | that topic's updates, entry id `<seq>-0` |
 * | `topics`                              | set    | the topics that have a stream            |
 * | `id:<id>`                             | string | the position of a publisher-given id     |
 * | `trimmed:<topic>` / `trimmed:*`       | string | how far a log was trimmed                |
 * | `lease:<name>`                        | string | owner and token, expiring                |
 * | `rec:<encoded key>`                   | string | a record (JSON)                          |
 * | `recidx` / `recexp`                   | zset   | records by key (lexical) / by expiry     |
 *
 * Stream entries carry the update as JSON (`u`) and its time (`t`, for trimming by age). Entry ids
 * are the positions themselves, so a range of positions is one XRANGE.
 *
 * @module
 */

import type { RecordKey } from "../hub/mod.ts";
import { utf8ByteLength } from "../util/bytes.ts";

/** The most UTF-8 bytes of a topic, a publisher-given id or an encoded record key. */
export const MAX_KEY_BYTES = 2000;

/** The key names of one hub. */
export class RedisKeys {
  readonly prefix: string;
  readonly head: string;
  readonly epoch: string;
  readonly log: string;
  readonly topics: string;
  readonly recordIndex: string;
  readonly recordExpiry: string;
  readonly recordPrefix: string;

  /**
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { RedisKeys } from "./keys.ts";
   * const keys = new RedisKeys("tidings:");
   * assert.equal(keys.topic("news"), "tidings:topic:news");
   * assert.equal(keys.trimmed("*"), "tidings:trimmed:*");
   * ```
   */
  constructor(prefix: string) {
    this.prefix = prefix;
    this.head = `${prefix}head`;
    this.epoch = `${prefix}epoch`;
    this.log = `${prefix}log`;
    this.topics = `${prefix}topics`;
    this.recordIndex = `${prefix}recidx`;
    this.recordExpiry = `${prefix}recexp`;
    this.recordPrefix = `${prefix}rec:`;
  }

  topic(topic: string): string {
    return `${this.prefix}topic:${topic}`;
  }

  id(id: string): string {
    return `${this.prefix}id:${id}`;
  }

  trimmed(log: string): string {
    return `${this.prefix}trimmed:${log}`;
  }

  lease(name: string): string {
    return `${this.prefix}lease:${name}`;
  }

  record(member: string): string {
    return `${this.recordPrefix}${member}`;
  }
}

/**
 * Encodes a record key so that byte order follows key order part by part, and a key's encoding
 * starts with its prefix's: numbers (`n`, sortable hex of the float) before strings (`s`, with
 * NUL and 0x01 escaped), each part ended by NUL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRecordKey, encodeRecordKey } from "./keys.ts";
 * const key = ["orders", 12, "a\0b"];
 * assert.deepEqual(decodeRecordKey(encodeRecordKey(key)), key);
 * assert.ok(encodeRecordKey(["a", "b"]).startsWith(encodeRecordKey(["a"])));
 * assert.ok(!encodeRecordKey(["ab"]).startsWith(encodeRecordKey(["a"])));
 * assert.ok(encodeRecordKey([2]) < encodeRecordKey([10]));
 * ```
 */
export function encodeRecordKey(key: RecordKey): string {
  let encoded = "";
  for (const part of key) {
    if (typeof part === "number") {
      encoded += `n${sortableNumber(part)}\0`;
    } else {
      encoded += `s${part.replaceAll("\x01", "\x01\x02").replaceAll("\0", "\x01\x01")}\0`;
    }
  }
  return encoded;
}

/** The key {@link encodeRecordKey} encoded. */
export function decodeRecordKey(encoded: string): RecordKey {
  const parts: (string | number)[] = [];
  for (const part of encoded.split("\0").slice(0, -1)) {
    if (part[0] === "n") parts.push(numberOfSortable(part.slice(1)));
    else parts.push(part.slice(1).replaceAll("\x01\x01", "\0").replaceAll("\x01\x02", "\x01"));
  }
  return parts;
}

/** Why a record key cannot be stored, or `undefined`. */
export function recordKeyRefusal(key: RecordKey): string | undefined {
  return utf8ByteLength(encodeRecordKey(key)) > MAX_KEY_BYTES
    ? `key too long to store (at most ${MAX_KEY_BYTES.toLocaleString("en")} bytes)`
    : undefined;
}

function sortableNumber(value: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  // Positive: flip the sign bit; negative: flip every bit. Then byte order is numeric order.
  if (view.getUint8(0) & 0x80) {
    for (let i = 0; i < 8; i++) view.setUint8(i, ~view.getUint8(i) & 0xff);
  } else {
    view.setUint8(0, view.getUint8(0) | 0x80);
  }
  let hex = "";
  for (let i = 0; i < 8; i++) hex += view.getUint8(i).toString(16).padStart(2, "0");
  return hex;
}

function numberOfSortable(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  for (let i = 0; i < 8; i++) view.setUint8(i, parseInt(hex.slice(i * 2, i * 2 + 2), 16));
  if (view.getUint8(0) & 0x80) {
    view.setUint8(0, view.getUint8(0) & 0x7f);
  } else {
    for (let i = 0; i < 8; i++) view.setUint8(i, ~view.getUint8(i) & 0xff);
  }
  return view.getFloat64(0);
}
