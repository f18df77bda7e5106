/**
 * The transport seam: everything the hub needs from durable, shared storage, and nothing more.
 * The hub's data path (the event log, the broker, retention), its leases, and the small records
 * of the feeds and the subscriptions API all talk to this interface, never to a store directly.
 *
 * - **The log.** Append updates atomically at the next contiguous positions of one hub-wide
 *   sequence (and to the log of each of their topics); read a range back, globally or per topic;
 *   learn the head; be told when it moves; trim to the retention policy.
 * - **Leases.** Hold a named lease with a time to live, so a shared job runs once per cluster and
 *   another node takes it over when its holder dies.
 * - **Records.** Store small values under short keys, optionally expiring.
 *
 * Implementations: `lib/kv/kv_transport.ts` (Deno KV: a local SQLite file, KV Connect, or Deno
 * Deploy's KV). Like Mercure's `transport.go` with its `local.go` and `bolt.go`, a second engine
 * (Redis, say) implements the same interface and plugs in at the composition root.
 *
 * @module
 */

import type { StoredUpdate, UpdateInput } from "./update.ts";

/** What the store cannot take (a topic, id or key too long, a value too large): refused for its
 * own request, before it reaches a write shared with others. */
export class StorageLimitError extends RangeError {
  /**
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { StorageLimitError } from "./transport.ts";
   * assert.equal(new StorageLimitError("too large").name, "StorageLimitError");
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "StorageLimitError";
  }
}

/**
 * The store cannot be reached for now (a network store down, or reconnecting): the request may be
 * tried again after `retryAfterSeconds`. A write refused this way may still have landed when the
 * connection broke after it was sent (`maybeWritten`).
 */
export class StorageUnavailableError extends Error {
  /** When to try again, s. */
  readonly retryAfterSeconds: number;
  /** Whether the write was sent before the connection broke (it may have landed). */
  readonly maybeWritten: boolean;
  /**
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { StorageUnavailableError } from "./transport.ts";
   * const error = new StorageUnavailableError("redis unavailable", { retryAfterSeconds: 2 });
   * assert.deepEqual([error.name, error.retryAfterSeconds, error.maybeWritten], ["StorageUnavailableError", 2, false]);
   * ```
   */
  constructor(
    message: string,
    options: { retryAfterSeconds?: number; maybeWritten?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "StorageUnavailableError";
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
    this.maybeWritten = options.maybeWritten ?? false;
  }
}

/** An update waiting to be appended, with its estimated stored size in bytes. */
export interface AppendRequest {
  input: UpdateInput;
  size: number;
}

/** What the log tells its caller while an append is in flight. */
export interface AppendHooks {
  /**
   * Called just before the store is asked to write positions up to `lastSeq`: a head at or below
   * it reported by {@link Transport.watchHead} may be this append's own.
   */
  claiming(lastSeq: number): void;
  /** Called when an attempt did not land (another writer took the positions, or an error). */
  missed(): void;
}

/** Retention limits. */
export interface RetentionPolicy {
  /** Updates kept per topic. */
  perTopic: number;
  /** Updates kept in the global log (serves `*` and template replays, and broker gap fills). */
  global: number;
  /** Maximum age in ms. */
  maxAgeMs: number;
}

/** A key of a small record: a few strings and numbers. */
export type RecordKey = readonly (string | number)[];

/** Options of {@link RecordStore.set}. */
export interface RecordOptions {
  /** Let the record expire after this long (the store may keep it a little longer). */
  expireInMs?: number;
}

/** One write of a {@link RecordStore.transact}: a value to store, or `undefined` to delete. */
export interface RecordWrite {
  key: RecordKey;
  value: unknown;
  expireInMs?: number;
}

/** What a {@link RecordStore.transact} decision commits, and what the call resolves with. */
export interface RecordDecision<T> {
  writes: RecordWrite[];
  result: T;
}

/** Small shared records: state of orders and games, typing marks, subscription records, keys. */
export interface RecordStore {
  /** The value under `key`, or `undefined`. */
  get<T>(key: RecordKey): Promise<T | undefined>;
  /**
   * Stores `value` under `key`. Many sets at once may share one write; one that the store cannot
   * take never fails the others.
   */
  set(key: RecordKey, value: unknown, options?: RecordOptions): Promise<void>;
  /** Stores `value` only if `key` holds nothing; resolves whether it did. */
  setIfAbsent(key: RecordKey, value: unknown, options?: RecordOptions): Promise<boolean>;
  /** Removes the record. */
  delete(key: RecordKey): Promise<void>;
  /** The records whose keys start with `prefix`, in key order. */
  list<T>(prefix: RecordKey, options?: { limit?: number }): AsyncIterable<[RecordKey, T]>;
  /**
   * Adds `delta` to the number under `key` (0 when absent) and resolves with the new value,
   * atomically across every node. A new counter expires after `expireInMs`.
   */
  add(key: RecordKey, delta: number, options?: RecordOptions): Promise<number>;
  /** Why a key cannot be stored (too long), or `undefined` when it can. */
  keyRefusal(key: RecordKey): string | undefined;
  /**
   * A read-modify-write over a few records, atomic across every node: reads `keys`, asks
   * `decide` what to write given their values (in the same order; `undefined` when absent), and
   * commits those writes only if none of `keys` changed meanwhile; otherwise reads and decides
   * again (up to a bound, then throws). Resolves with the decision's result.
   */
  transact<T>(
    keys: readonly RecordKey[],
    decide: (values: unknown[]) => RecordDecision<T>,
  ): Promise<T>;
}

/** A held lease: what renewing and releasing it need. */
export interface LeaseHold {
  readonly name: string;
  readonly owner: string;
  /** Opaque to callers. */
  readonly version: unknown;
}

// ---- Connection-budget shares ----

/**
 * Connection budgets shared by the isolates of one process (see `connection_budget.ts`). */
/** What a budget looks like to one isolate when it changes its holding. */
export interface BudgetState {
  /** Slots this isolate holds in the records. */
  recorded: number;
  /** Slots held by the other isolates that are alive. */
  others: number;
  /** The other live isolates holding slots. */
  holders: string[];
}

/** A change of one isolate's shares: {@link ShareLedger.update}. */
export interface ShareUpdate {
  /** Names the process: isolates of one scope share the budgets. */
  scope: string;
  /** The isolate committing. */
  isolate: string;
  /** How long the renewed lease runs, ms. */
  leaseMs: number;
  /** Budgets to read and rewrite (at most 40: an atomic allows 100 checks). */
  budgets: string[];
  /** The isolate leaves for good: its lease ends with this commit. */
  leaving?: boolean;
  /** The new holding of this isolate in `budget`, given what the records say. */
  decide: (budget: string, state: BudgetState, liveIsolates: number) => number;
}

/** A committed change. */
export interface ShareOutcome {
  /** This isolate's holding per budget, as committed. */
  held: Map<string, number>;
  /** What each budget looked like before the change. */
  states: Map<string, BudgetState>;
  /** When the renewed lease runs out. */
  leaseUntil: number;
  /** Whether this isolate's previous lease was still running (false: others may have taken its share). */
  wasAlive: boolean;
}

/**
 * The ledger of connection-budget shares: which isolate of a process holds how much of each
 * limit, and which isolates are alive (by lease). One update reads the budgets it names, lets
 * `decide` choose this isolate's new holding, and commits only if nothing it read changed.
 */
export interface ShareLedger {
  /** The most budgets one update may name. */
  readonly maxBudgetsPerUpdate: number;
  /** Applies one change atomically; `undefined` when another isolate changed a budget first. */
  update(update: ShareUpdate): Promise<ShareOutcome | undefined>;
}

/** Durable, shared storage for the hub. */
export interface Transport {
  /** Short name, for logs and `/readyz`: `kv`, `redis`. */
  readonly name: string;
  /** A number made once per store (kept across restarts), part of every hub-made id. */
  epoch(): Promise<number>;

  /** Why this store cannot take an update, or `undefined`; asked before it joins a batch. */
  appendRefusal(request: AppendRequest): string | undefined;
  /** How many of `queue`'s first requests fit one atomic append (at least 1). */
  batchSize(queue: readonly AppendRequest[]): number;
  /**
   * Appends the batch atomically at the next contiguous positions, retrying when another writer
   * took them first; resolves with the stored updates, in order.
   */
  append(
    batch: readonly AppendRequest[],
    stamp: (request: AppendRequest, seq: number, time: number) => StoredUpdate,
    hooks: AppendHooks,
  ): Promise<StoredUpdate[]>;

  /** The newest position written (0 for an empty log). */
  headSeq(): Promise<number>;
  /** Updates of the global log with `afterSeq < seq <= untilSeq`, oldest first, at most `limit`. */
  read(afterSeq: number, untilSeq: number, limit: number): Promise<StoredUpdate[]>;
  /** The same, from one topic's log. */
  readTopic(topic: string, afterSeq: number, untilSeq: number, limit: number): Promise<
    StoredUpdate[]
  >;
  /** The position of a publisher-given id, while it is remembered. */
  seqOfId(id: string): Promise<number | undefined>;
  /** The newest update of a topic. */
  newest(topic: string): Promise<StoredUpdate | undefined>;
  /** The position just before the `count`-th newest update of a topic (0 if it has fewer). */
  seqBeforeNewest(topic: string, count: number): Promise<number>;
  /** The oldest position still in the global log (head + 1 when it is empty). */
  oldestSeq(): Promise<number>;
  /** Up to which position a log (`"*"`: the global one) has been trimmed (0: never). */
  trimmedUpTo(log: string): Promise<number>;
  /** Every topic that has a log. */
  listTopics(): Promise<string[]>;
  /** Trims the logs of `topics` and the global log to `policy`; resolves with rows deleted. */
  trim(topics: Iterable<string>, policy: RetentionPolicy, now?: number): Promise<number>;
  /**
   * Calls `onHead` with the head whenever it may have moved (from any writer: other isolates,
   * processes, nodes), until `signal` aborts. Notifications may coalesce or repeat.
   */
  watchHead(onHead: (seq: number) => void, signal: AbortSignal): void;

  /** Takes the lease `name` for `owner` if it is free or expired (or already `owner`'s). */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<LeaseHold | undefined>;
  /** Extends a held lease; `undefined` when it was lost meanwhile. */
  renewLease(hold: LeaseHold, ttlMs: number): Promise<LeaseHold | undefined>;
  /** Gives the lease up (if still held). */
  releaseLease(hold: LeaseHold): Promise<void>;

  /** Small shared records. */
  readonly records: RecordStore;
  /** Whether the store answers (for `/readyz`). */
  ping(): Promise<void>;
  /** Stops watches and closes the store. */
  close(): void;
}
