/**
 * How many orders or games each client may create: a fixed-window rate and a cap on the client's
 * live ones (created, not yet ended). Both live in one record per client and kind, changed in one
 * record transaction together with the new order's or game's own record, so the limits hold
 * exactly across isolates, processes and nodes sharing the store, and a refused creation writes
 * nothing.
 *
 * In each isolate, admissions for one client run one after another (so a burst does not turn into
 * a storm of commit conflicts), and a client whose window is used up is refused from memory until
 * the window ends.
 *
 * @module
 */

import type { RecordKey, RecordStore } from "../hub/mod.ts";
import { Deadlines } from "../util/deadlines.ts";

/** The limits of one kind of creation, per client. */
export interface CreationLimits {
  /** Creations admitted per client per window. */
  perWindow: number;
  /** Window length in ms; windows start at multiples of it (the same in every isolate). */
  windowMs: number;
  /** Live creations a client may have at once. */
  maxLive: number;
}

/** One creation asked for. */
export interface Creation {
  /** Who creates it (see `clientKey`). */
  client: string;
  /** The order's or game's id. */
  id: string;
  /** Its record, written in the same transaction as the admission, only if the key is still free. */
  record: { key: RecordKey; value: unknown; expireInMs: number };
  /** When its live entry lapses if its end is never reported (its producer died, say). */
  liveUntil: number;
}

/** What {@link CreationQuota.admit} decided. */
export type Admission =
  | { admitted: true }
  /** The record already exists (someone created it first): nothing was counted or written. */
  | { admitted: false; reason: "exists" }
  | { admitted: false; reason: "rate" | "live"; retryAfterSeconds: number };

interface QuotaRecord {
  windowStart: number;
  count: number;
  /** `[id, liveUntil]` of the client's live creations. */
  live: Array<[string, number]>;
}

/** Clients remembered as over their rate, per isolate; past this, refusals ask the store again. */
const MAX_REMEMBERED = 10_000;

/**
 * The per-client creation limits of one kind (`"orders"`, `"games"`), kept in the hub's records.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CreationQuota } from "./creation_quota.ts";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const { records } = transport;
 * const quota = new CreationQuota(records, "orders", { perWindow: 1, windowMs: 60_000, maxLive: 5 });
 * const create = (id: string) =>
 *   quota.admit({
 *     client: "10.0.0.1",
 *     id,
 *     record: { key: ["orders", id], value: { id }, expireInMs: 60_000 },
 *     liveUntil: Date.now() + 30_000,
 *   });
 * assert.deepEqual(await create("a"), { admitted: true });
 * assert.equal((await create("b")).admitted, false);
 * assert.equal(await records.get(["orders", "b"]), undefined); // a refusal writes nothing
 * transport.close();
 * ```
 */
export class CreationQuota {
  readonly #records: RecordStore;
  readonly #kind: string;
  readonly #limits: CreationLimits;
  readonly #now: () => number;
  /** Per client: the admission or release running, which the next one waits for. */
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Per client over its rate: when its window ends. */
  readonly #exhausted: Deadlines;

  constructor(
    records: RecordStore,
    kind: string,
    limits: CreationLimits,
    now: () => number = Date.now,
  ) {
    this.#records = records;
    this.#kind = kind;
    this.#limits = limits;
    this.#now = now;
    this.#exhausted = new Deadlines(MAX_REMEMBERED, now);
  }

  /**
   * Admits a creation (counts it, records it live and writes its record, in one atomic) or
   * refuses it, writing nothing.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { CreationQuota } from "./creation_quota.ts";
   * import { KvTransport } from "../kv/kv_transport.ts";
   * const transport = new KvTransport(await Deno.openKv(":memory:"));
   * const { records } = transport;
   * const quota = new CreationQuota(records, "games", { perWindow: 10, windowMs: 60_000, maxLive: 1 });
   * const game = (id: string) => ({
   *   client: "10.0.0.2",
   *   id,
   *   record: { key: ["games", id], value: { id }, expireInMs: 60_000 },
   *   liveUntil: Date.now() + 30_000,
   * });
   * assert.deepEqual(await quota.admit(game("g1")), { admitted: true });
   * assert.deepEqual(await quota.admit(game("g1")), { admitted: false, reason: "exists" });
   * const refused = await quota.admit(game("g2"));
   * assert.equal(refused.admitted === false && refused.reason, "live");
   * transport.close();
   * ```
   */
  admit(creation: Creation): Promise<Admission> {
    const known = this.#knownExhausted(creation.client);
    if (known) return Promise.resolve(known);
    return this.#inTurn(creation.client, () => this.#admit(creation));
  }

  /**
   * Ends a creation's live entry: its feed ended, or its admission is being undone (then
   * `uncount` also gives back its place in the current window).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { CreationQuota } from "./creation_quota.ts";
   * import { KvTransport } from "../kv/kv_transport.ts";
   * const transport = new KvTransport(await Deno.openKv(":memory:"));
   * const { records } = transport;
   * const quota = new CreationQuota(records, "orders", { perWindow: 10, windowMs: 60_000, maxLive: 1 });
   * const order = (id: string) => ({
   *   client: "10.0.0.3",
   *   id,
   *   record: { key: ["orders", id], value: { id }, expireInMs: 60_000 },
   *   liveUntil: Date.now() + 30_000,
   * });
   * assert.deepEqual(await quota.admit(order("o1")), { admitted: true });
   * await quota.release("10.0.0.3", "o1");
   * assert.deepEqual(await quota.admit(order("o2")), { admitted: true });
   * transport.close();
   * ```
   */
  release(client: string, id: string, uncount = false): Promise<void> {
    return this.#inTurn(client, () => this.#release(client, id, uncount));
  }

  #key(client: string): RecordKey {
    return ["quota", this.#kind, client];
  }

  #knownExhausted(client: string): Admission | undefined {
    const wait = this.#exhausted.remaining(client);
    if (wait === undefined) return undefined;
    return {
      admitted: false,
      reason: "rate",
      retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)),
    };
  }

  /** Runs `task` after every earlier admission or release of `client` in this isolate. */
  #inTurn<T>(client: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(client) ?? Promise.resolve();
    const result = previous.then(task);
    const settled = result.then(() => {}, () => {});
    this.#queues.set(client, settled);
    settled.then(() => {
      if (this.#queues.get(client) === settled) this.#queues.delete(client);
    });
    return result;
  }

  /** The record's current window, live entries still due, and when it can expire. */
  #current(value: QuotaRecord | undefined, now: number) {
    const { windowMs } = this.#limits;
    const windowStart = now - (now % windowMs);
    const count = value?.windowStart === windowStart ? value.count : 0;
    const live = (value?.live ?? []).filter(([, until]) => until > now);
    return { windowStart, windowEnd: windowStart + windowMs, count, live };
  }

  async #admit(creation: Creation): Promise<Admission> {
    const known = this.#knownExhausted(creation.client);
    if (known) return known;
    const key = this.#key(creation.client);
    return await this.#records.transact<Admission>(
      [key, creation.record.key],
      ([value, existing]) => {
        if (existing !== undefined) {
          return { writes: [], result: { admitted: false, reason: "exists" } };
        }
        const now = this.#now();
        const { windowStart, windowEnd, count, live } = this.#current(
          value as QuotaRecord | undefined,
          now,
        );
        if (count >= this.#limits.perWindow) {
          this.#exhausted.remember(creation.client, windowEnd);
          const retryAfterSeconds = secondsUntil(windowEnd, now);
          return { writes: [], result: { admitted: false, reason: "rate", retryAfterSeconds } };
        }
        if (live.length >= this.#limits.maxLive) {
          const soonest = Math.min(...live.map(([, until]) => until));
          const retryAfterSeconds = secondsUntil(soonest, now);
          return { writes: [], result: { admitted: false, reason: "live", retryAfterSeconds } };
        }
        live.push([creation.id, creation.liveUntil]);
        return {
          writes: [
            {
              key,
              value: { windowStart, count: count + 1, live } satisfies QuotaRecord,
              expireInMs: expiry(windowEnd, live, now),
            },
            {
              key: creation.record.key,
              value: creation.record.value,
              expireInMs: creation.record.expireInMs,
            },
          ],
          result: { admitted: true },
        };
      },
    );
  }

  async #release(client: string, id: string, uncount: boolean): Promise<void> {
    const key = this.#key(client);
    await this.#records.transact([key], ([stored]) => {
      const value = stored as QuotaRecord | undefined;
      if (!value) return { writes: [], result: undefined };
      const now = this.#now();
      const { windowStart, windowEnd, count, live } = this.#current(value, now);
      const remaining = live.filter(([liveId]) => liveId !== id);
      const giveBack = uncount && count > 0;
      if (remaining.length === value.live.length && !giveBack) {
        return { writes: [], result: undefined };
      }
      if (giveBack) this.#exhausted.forget(client);
      const uncounted = giveBack ? count - 1 : count;
      return {
        writes: [{
          key,
          value: { windowStart, count: uncounted, live: remaining } satisfies QuotaRecord,
          expireInMs: expiry(windowEnd, remaining, now),
        }],
        result: undefined,
      };
    });
  }
}

/** Whole seconds from `now` to `until`, at least 1 (a `Retry-After` value). */
function secondsUntil(until: number, now: number): number {
  return Math.max(1, Math.ceil((until - now) / 1000));
}

/** How long a quota record must stay: its window, and its live entries' due times. */
function expiry(windowEnd: number, live: Array<[string, number]>, now: number): number {
  let last = windowEnd;
  for (const [, until] of live) last = Math.max(last, until);
  return last - now + 1000;
}
