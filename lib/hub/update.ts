/**
 * The update: what a publisher sends and what the KV log keeps, plus the hub's event ids.
 *
 * Hub-generated ids are `urn:uuid:` UUIDv8 values that carry the update's log position (its
 * sequence number) and the hub's epoch, so `Last-Event-ID` resumes without a lookup and an id from
 * another hub (or a wiped one) is recognised as unknown.
 *
 * @module
 */

import { encodeEventBytes } from "../sse/mod.ts";

/** An update as a publisher submits it. */
export interface UpdateInput {
  /** Canonical topic first, then alternates; subscribers matching any of them receive it. */
  topics: string[];
  data: string;
  /** Publisher-given SSE id; the hub generates one when absent. */
  id?: string;
  /** SSE event type. */
  type?: string;
  /** Reconnection hint in ms. */
  retry?: number;
  /** Only subscribers authorised for one of the topics receive a private update. */
  private?: boolean;
  /** Delivery priority (higher first when a connection is backlogged); 0 by default. */
  priority?: number;
}

/** An update at its place in the log. */
export interface StoredUpdate {
  /** Position in the hub-wide log: contiguous, starting at 1. */
  seq: number;
  id: string;
  topics: string[];
  data: string;
  type?: string;
  retry?: number;
  private?: boolean;
  priority?: number;
  /** Commit time, epoch ms. */
  time: number;
}

/** Decides whether one subscriber may receive (and wants) an update. */
export type UpdatePredicate = (update: StoredUpdate) => boolean;

const cachedBytes = new WeakMap<StoredUpdate, Uint8Array>();

/**
 * The SSE bytes of an update, encoded once per isolate and shared by every subscriber.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { updateBytes } from "./update.ts";
 * const bytes = updateBytes({ seq: 1, id: "a", topics: ["t"], data: "x", time: 0 });
 * assert.equal(new TextDecoder().decode(bytes), "id: a\ndata: x\n\n");
 * ```
 */
export function updateBytes(update: StoredUpdate): Uint8Array {
  let bytes = cachedBytes.get(update);
  if (!bytes) {
    bytes = encodeEventBytes({
      id: update.id,
      event: update.type,
      retry: update.retry,
      data: update.data,
    });
    cachedBytes.set(update, bytes);
  }
  return bytes;
}

const hex = (value: number, digits: number) => value.toString(16).padStart(digits, "0");

/**
 * Makes the hub id of the update at `seq`: a UUIDv8 holding the sequence number and the epoch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeHubId, parseHubId } from "./update.ts";
 * for (const seq of [42, 65_536, 16_777_217, 2 ** 40 - 1]) {
 *   assert.equal(parseHubId(makeHubId(seq, 0x1234567), 0x1234567), seq);
 * }
 * assert.equal(parseHubId(makeHubId(42, 0x1234567), 0x7654321), undefined); // another hub's
 * ```
 */
export function makeHubId(seq: number, epoch: number): string {
  // Layout: 40 bits seq | 8 random | version 8 | 12 bits epoch | variant 10 + 30 bits epoch |
  // 32 random. Positions up to 2^40 (about 10^12) round-trip.
  return `urn:uuid:${hex(Math.floor(seq / 0x100), 8)}-${hex(seq % 0x100, 2)}${
    hex(randomWord() >>> 24, 2)
  }${epochPart(epoch)}${hex(randomWord(), 8)}`;
}

let randomPool = new Uint32Array(0);
let randomIndex = 0;

/** Random 32-bit words, drawn from the CSPRNG 256 at a time. */
function randomWord(): number {
  if (randomIndex === randomPool.length) {
    randomPool = crypto.getRandomValues(new Uint32Array(256));
    randomIndex = 0;
  }
  return randomPool[randomIndex++];
}

let cachedEpoch = -1;
let cachedEpochPart = "";

/** The epoch's constant middle of every id: `-8eee-vEEE-EEEE`. */
function epochPart(epoch: number): string {
  if (epoch !== cachedEpoch) {
    const epochHigh = Math.floor(epoch / 0x40000000) & 0xfff;
    const word3 = 0x80000000 + epoch % 0x40000000; // variant 10 + 30 bits
    cachedEpochPart = `-8${hex(epochHigh, 3)}-${hex(word3 >>> 16, 4)}-${hex(word3 & 0xffff, 4)}`;
    cachedEpoch = epoch;
  }
  return cachedEpochPart;
}

const HUB_ID =
  /^urn:uuid:([0-9a-f]{8})-([0-9a-f]{2})[0-9a-f]{2}-8([0-9a-f]{3})-([89ab][0-9a-f]{3})-([0-9a-f]{4})[0-9a-f]{8}$/;

/**
 * The sequence number inside a hub id of this epoch, or `undefined` for any other id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHubId } from "./update.ts";
 * assert.equal(parseHubId("my-own-id", 1), undefined);
 * ```
 */
export function parseHubId(id: string, epoch: number): number | undefined {
  const match = HUB_ID.exec(id);
  if (!match) return undefined;
  const [, first, second, epochHighHex, word3High, word3Low] = match;
  const word3 = parseInt(word3High + word3Low, 16);
  const idEpoch = parseInt(epochHighHex, 16) * 0x40000000 + (word3 - 0x80000000);
  if (idEpoch !== (epoch % 0x40000000000)) return undefined;
  return parseInt(first, 16) * 0x100 + parseInt(second, 16);
}

/**
 * Rough size in bytes of an update as KV stores it (V8 serialisation of strings is at most two
 * bytes per UTF-16 unit).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { estimateUpdateSize } from "./update.ts";
 * const latin1 = estimateUpdateSize({ topics: ["a"], data: "ee" });
 * assert.equal(estimateUpdateSize({ topics: ["a"], data: "€€" }) - latin1, 2);
 * ```
 */
export function estimateUpdateSize(input: UpdateInput): number {
  let size = 128 + stringSize(input.data) + stringSize(input.id ?? "x".repeat(48)) +
    stringSize(input.type ?? "");
  for (const topic of input.topics) size += stringSize(topic) + 8;
  return size;
}

/** A topic's length at most, in UTF-8 bytes, as a publisher gives it. */
export const MAX_TOPIC_BYTES = 1024;

const BEYOND_LATIN1 = /[\u0100-\uffff]/;

/** V8 stores a string with only Latin-1 characters at one byte each, any other at two. */
function stringSize(text: string): number {
  return BEYOND_LATIN1.test(text) ? text.length * 2 : text.length;
}

/** The largest update (by {@link estimateUpdateSize}) a KV value can hold. */
export const MAX_UPDATE_SIZE = 63 * 1024;
