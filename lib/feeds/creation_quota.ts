/**
 * How many orders or games each client may create: a fixed-window rate and a cap on the client's
 * live ones (created, not yet ended). Both live in one KV record per client and kind, changed by
 * an atomic check-and-set together with the new order's or game's own record, so the limits hold
 * exactly across isolates and processes sharing the store, and a refused creation writes nothing.
 *
 * In each isolate, admissions for one client run one after another (so a burst does not turn into
 * a storm of commit conflicts), and a client whose window is used up is refused from memory until
 * the window ends.
 *
 * @module
 */

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
  /** Its record, written in the same atomic as the admission, only if the key is still free. */
  record: { key: Deno.KvKey; value: unknown; expireIn: number };
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

/** Clients remembered as over their rate, per isolate; past this, refusals ask KV again. */
const MAX_REMEMBERED = 10_000;
/** Commit attempts before giving up on a contended record. */
const MAX_ATTEMPTS = 100;

/**
 * The per-client creation limits of one kind (`"orders"`, `"games"`), backed by KV.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CreationQuota } from "./creation_quota.ts";
 * const kv = await Deno.openKv(":memory:");
 * const quota = new CreationQuota(kv, "orders", { perWindow: 1, windowMs: 60_000, maxLive: 5 });
 * const create = (id: string) =>
 *   quota.admit({
 *     client: "10.0.0.1",
 *     id,
 *     record: { key: ["orders", id], value: { id }, expireIn: 60_000 },
 *     liveUntil: Date.now() + 30_000,
 *   });
 * assert.deepEqual(await create("a"), { admitted: true });
 * assert.equal((await create("b")).admitted, false);
 * assert.equal((await kv.get(["orders", "b"])).versionstamp, null);
 * kv.close();
 * ```
 */
export class CreationQuota {
  readonly #kv: Deno.Kv;
  readonly #kind: string;
  readonly #limits: CreationLimits;
  readonly #now: () => number;
  /** Per client: the admission or release running, which the next one waits for. */
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Per client over its rate: when its window ends. */
  readonly #exhausted = new Map<string, number>();

  /**
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { CreationQuota } from "./creation_quota.ts";
   * const kv = await Deno.openKv(":memory:");
   * const quota = new CreationQuota(kv, "games", { perWindow: 10, windowMs: 1000, maxLive: 1 });
   * assert.ok(quota instanceof CreationQuota);
   * kv.close();
   * ```
   */
  constructor(kv: Deno.Kv, kind: string, limits: CreationLimits, now: () => number = Date.now) {
    this.#kv = kv;
    this.#kind = kind;
    this.#limits = limits;
    this.#now = now;
  }

  /**
   * Admits a creation (counts it, records it live and writes its record, in one atomic) or
   * refuses it, writing nothing.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { CreationQuota } from "./creation_quota.ts";
   * const kv = await Deno.openKv(":memory:");
   * const quota = new CreationQuota(kv, "games", { perWindow: 10, windowMs: 60_000, maxLive: 1 });
   * const game = (id: string) => ({
   *   client: "10.0.0.2",
   *   id,
   *   record: { key: ["games", id], value: { id }, expireIn: 60_000 },
   *   liveUntil: Date.now() + 30_000,
   * });
   * assert.deepEqual(await quota.admit(game("g1")), { admitted: true });
   * assert.deepEqual(await quota.admit(game("g1")), { admitted: false, reason: "exists" });
   * const refused = await quota.admit(game("g2"));
   * assert.equal(refused.admitted === false && refused.reason, "live");
   * kv.close();
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
   * const kv = await Deno.openKv(":memory:");
   * const quota = new CreationQuota(kv, "orders", { perWindow: 10, windowMs: 60_000, maxLive: 1 });
   * const order = (id: string) => ({
   *   client: "10.0.0.3",
   *   id,
   *   record: { key: ["orders", id], value: { id }, expireIn: 60_000 },
   *   liveUntil: Date.now() + 30_000,
   * });
   * assert.deepEqual(await quota.admit(order("o1")), { admitted: true });
   * await quota.release("10.0.0.3", "o1");
   * assert.deepEqual(await quota.admit(order("o2")), { admitted: true });
   * kv.close();
   * ```
   */
  release(client: string, id: string, uncount = false): Promise<void> {
    return this.#inTurn(client, () => this.#release(client, id, uncount));
  }

  #key(client: string): Deno.KvKey {
    return ["quota", this.#kind, client];
  }

  #knownExhausted(client: string): Admission | undefined {
    const until = this.#exhausted.get(client);
    if (until === undefined) return undefined;
    const now = this.#now();
    if (now >= until) {
      this.#exhausted.delete(client);
      return undefined;
    }
    return { admitted: false, reason: "rate", retryAfterSeconds: secondsUntil(until, now) };
  }

  #rememberExhausted(client: string, until: number): void {
    if (this.#exhausted.size >= MAX_REMEMBERED) {
      const now = this.#now();
      for (const [known, end] of this.#exhausted) if (end <= now) this.#exhausted.delete(known);
      if (this.#exhausted.size >= MAX_REMEMBERED) return;
    }
    this.#exhausted.set(client, until);
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
  #current(value: QuotaRecord | null, now: number) {
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
    for (let attempt = 1;; attempt++) {
      const [entry, existing] = await this.#kv.getMany<[QuotaRecord, unknown]>([
        key,
        creation.record.key,
      ]);
      if (existing.versionstamp !== null) return { admitted: false, reason: "exists" };
      const now = this.#now();
      const { windowStart, windowEnd, count, live } = this.#current(entry.value, now);
      if (count >= this.#limits.perWindow) {
        this.#rememberExhausted(creation.client, windowEnd);
        return { admitted: false, reason: "rate", retryAfterSeconds: secondsUntil(windowEnd, now) };
      }
      if (live.length >= this.#limits.maxLive) {
        const soonest = Math.min(...live.map(([, until]) => until));
        return { admitted: false, reason: "live", retryAfterSeconds: secondsUntil(soonest, now) };
      }
      live.push([creation.id, creation.liveUntil]);
      const result = await this.#kv.atomic()
        .check(entry)
        .check(existing)
        .set(key, { windowStart, count: count + 1, live } satisfies QuotaRecord, {
          expireIn: expiry(windowEnd, live, now),
        })
        .set(creation.record.key, creation.record.value, { expireIn: creation.record.expireIn })
        .commit();
      if (result.ok) return { admitted: true };
      if (attempt >= MAX_ATTEMPTS) {
        return { admitted: false, reason: "rate", retryAfterSeconds: 1 };
      }
    }
  }

  async #release(client: string, id: string, uncount: boolean): Promise<void> {
    const key = this.#key(client);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const entry = await this.#kv.get<QuotaRecord>(key);
      if (!entry.value) return;
      const now = this.#now();
      const { windowStart, windowEnd, count, live } = this.#current(entry.value, now);
      const remaining = live.filter(([liveId]) => liveId !== id);
      const giveBack = uncount && count > 0;
      if (remaining.length === entry.value.live.length && !giveBack) return;
      if (giveBack) this.#exhausted.delete(client);
      const uncounted = giveBack ? count - 1 : count;
      const result = await this.#kv.atomic()
        .check(entry)
        .set(key, { windowStart, count: uncounted, live: remaining } satisfies QuotaRecord, {
          expireIn: expiry(windowEnd, remaining, now),
        })
        .commit();
      if (result.ok) return;
    }
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
