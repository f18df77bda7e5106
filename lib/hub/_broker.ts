/**
 * The broker: brings every update of the log to this isolate exactly once and in order.
 *
 * Updates arrive three ways: this isolate's own commits, a BroadcastChannel from the other isolates
 * of the process (fast, but it drops messages in bursts), and a `kv.watch` on the log head plus a
 * slow poll (other processes and Deno Deploy instances). Positions are contiguous, so a batch that
 * does not follow the last delivered position reveals a gap, which is read from KV before anything
 * is delivered. Listeners therefore see each position once, in order, with nothing missing.
 *
 * @module
 */

import type { EventLog } from "./_event_log.ts";
import type { StoredUpdate } from "./update.ts";
import { sleep } from "../util/abortable.ts";
import { log as logLine } from "../util/logger.ts";
import { PeerChannel } from "./_peer_channel.ts";

/** How long a catch-up that keeps failing (it is retried every 100 ms) stays quiet in the log, ms. */
const FAILURE_LOG_EVERY_MS = 5000;

/** Counters kept by the broker, for metrics. */
export interface BrokerStats {
  delivered: number;
  fromChannel: number;
  gapsFilled: number;
  gapEvents: number;
  duplicatesDropped: number;
}

/**
 * Orders updates from every source and hands them to listeners.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { EventLog } from "./_event_log.ts";
 * import { Broker } from "./_broker.ts";
 * const kv = await Deno.openKv(":memory:");
 * const log = await EventLog.open(new KvTransport(kv));
 * const broker = await Broker.start(log);
 * const seen: string[] = [];
 * broker.listen((updates) => seen.push(...updates.map((u) => u.data)));
 * await log.append({ topics: ["t"], data: "first" });
 * await log.append({ topics: ["t"], data: "second" });
 * await broker.idle();
 * assert.deepEqual(seen, ["first", "second"]);
 * broker.close();
 * kv.close();
 * ```
 */
export class Broker {
  readonly log: EventLog;
  readonly stats: BrokerStats = {
    delivered: 0,
    fromChannel: 0,
    gapsFilled: 0,
    gapEvents: 0,
    duplicatesDropped: 0,
  };
  #cursor: number;
  #listeners = new Set<(updates: StoredUpdate[]) => void>();
  #inbox: Array<StoredUpdate[] | number> = [];
  #processing: Promise<void> | undefined;
  #channel: PeerChannel;
  #closed = new AbortController();
  #stopListening: Array<() => void> = [];
  /** A head seen by the watch while this isolate's own commit up to it was in flight. */
  #deferredHead = 0;
  #now: () => number;
  /** Catch-up attempts failed in a row, and when the last of them was logged. */
  #failures = 0;
  #failureLoggedAt = 0;

  private constructor(log: EventLog, cursor: number, pollMs: number, now: () => number) {
    this.log = log;
    this.#now = now;
    this.#cursor = cursor;
    log.tail.reset(cursor);
    this.#channel = new PeerChannel(`tidings-${log.epoch}`, (updates) => {
      this.stats.fromChannel++;
      this.#enqueue(updates);
    });
    this.#stopListening.push(
      log.onCommit((updates) => {
        this.#enqueue(updates);
        this.#releaseDeferredHead();
        this.#channel.post(updates);
      }),
      log.onMissed(() => this.#releaseDeferredHead()),
    );
    this.#watchHead();
    this.#poll(pollMs);
  }

  /**
   * Starts a broker positioned at the current head of the log: it delivers what comes next.
   * `pollMs`: how often the head is polled besides the watch (default 1000); `now`: the clock that
   * spaces the log lines of a failing catch-up (default `Date.now`; tests pass their own).
   */
  static async start(
    log: EventLog,
    options: { pollMs?: number; now?: () => number } = {},
  ): Promise<Broker> {
    const head = await log.headSeq();
    const broker = new Broker(log, head, options.pollMs ?? 1000, options.now ?? Date.now);
    // The newest updates go to the hot tail at once: after a restart, the clients coming back
    // resume from memory. The broker delivers from `head` on, so nothing else arrives meanwhile.
    const warm = Math.min(head, log.tail.globalCapacity);
    if (warm > 0) {
      try {
        const newest = await log.transport.read(head - warm, head, warm);
        if (newest.length > 0 && log.tail.lastSeq === head) {
          log.tail.reset(newest[0].seq - 1);
          log.tail.add(newest);
          if (log.tail.lastSeq !== head) log.tail.reset(broker.cursor);
        }
      } catch {
        // Only a head start: the tail fills as updates are delivered.
      }
    }
    return broker;
  }

  /** The last position delivered to listeners in this isolate. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Whether the broker still runs. */
  get running(): boolean {
    return !this.#closed.signal.aborted;
  }

  /**
   * Registers a listener for every delivered batch; returns its removal function.
   */
  listen(listener: (updates: StoredUpdate[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Asks the broker to catch up to at least position `seq` from KV (used after a restart or when
   * a caller knows the head moved).
   */
  catchUpTo(seq: number): void {
    this.#enqueue(seq);
  }

  /**
   * Resolves when everything that arrived so far has been delivered.
   */
  async idle(): Promise<void> {
    while (this.#processing) await this.#processing;
  }

  #enqueue(item: StoredUpdate[] | number): void {
    if (this.#closed.signal.aborted) return;
    this.#inbox.push(item);
    if (!this.#processing) {
      this.#processing = this.#process().finally(() => {
        this.#processing = undefined;
      });
    }
  }

  async #process(): Promise<void> {
    while (this.#inbox.length > 0 && !this.#closed.signal.aborted) {
      const item = this.#inbox.shift()!;
      try {
        if (typeof item === "number") {
          await this.#fillTo(item);
        } else if (item.length > 0) {
          const first = item[0].seq;
          if (first > this.#cursor + 1) {
            this.stats.gapsFilled++;
            await this.#fillTo(first - 1);
          }
          const fresh = item[item.length - 1].seq > this.#cursor
            ? item.filter((update) => update.seq > this.#cursor)
            : [];
          this.stats.duplicatesDropped += item.length - fresh.length;
          if (fresh.length > 0 && fresh[0].seq === this.#cursor + 1) this.#deliver(fresh);
        }
        if (this.#failures > 0) {
          logLine("warn", "broker catch-up recovered", { failedAttempts: this.#failures });
          this.#failures = 0;
        }
      } catch (error) {
        if (this.#closed.signal.aborted) return;
        // Retried promptly (recovery speed matters), logged the first time and then at most once
        // per FAILURE_LOG_EVERY_MS, with the count so far.
        const now = this.#now();
        if (++this.#failures === 1 || now - this.#failureLoggedAt >= FAILURE_LOG_EVERY_MS) {
          this.#failureLoggedAt = now;
          logLine(
            "error",
            this.#failures === 1 ? "broker catch-up failed" : "broker catch-up still failing",
            { failedAttempts: this.#failures, error: String(error) },
          );
        }
        await sleep(100, this.#closed.signal);
        this.#inbox.unshift(item);
      }
    }
  }

  async #fillTo(seq: number): Promise<void> {
    while (this.#cursor < seq && !this.#closed.signal.aborted) {
      const updates = await this.log.read(this.#cursor, seq, 1000);
      if (updates.length === 0 || updates[0].seq !== this.#cursor + 1) {
        // Positions trimmed away (or not visible yet): skip to what KV has.
        if (updates.length === 0) {
          const oldest = await this.log.oldestSeq();
          if (oldest > this.#cursor + 1 && oldest - 1 <= seq) {
            this.#cursor = oldest - 1;
            continue;
          }
          return;
        }
        this.#cursor = updates[0].seq - 1;
      }
      this.stats.gapEvents += updates.length;
      this.#deliver(updates);
    }
  }

  #deliver(updates: StoredUpdate[]): void {
    this.#cursor = updates[updates.length - 1].seq;
    this.stats.delivered += updates.length;
    this.log.tail.add(updates);
    for (const listener of this.#listeners) {
      try {
        listener(updates);
      } catch (error) {
        console.error(
          JSON.stringify({ level: "error", msg: "listener failed", error: String(error) }),
        );
      }
    }
  }

  #releaseDeferredHead(): void {
    if (this.#deferredHead === 0) return;
    const head = this.#deferredHead;
    this.#deferredHead = 0;
    this.#enqueue(head);
  }

  #watchHead(): void {
    this.log.transport.watchHead((head) => {
      if (head <= this.#cursor) return;
      // A watch often reports our own append before the append call returns: reading those
      // updates back from the store would be wasted work, so wait for the append's outcome.
      if (head <= this.log.committingUpTo) {
        this.#deferredHead = Math.max(this.#deferredHead, head);
      } else {
        this.#enqueue(head);
      }
    }, this.#closed.signal);
  }

  async #poll(pollMs: number): Promise<void> {
    while (await sleep(pollMs, this.#closed.signal)) {
      try {
        const head = await this.log.headSeq();
        if (head > this.#cursor) this.#enqueue(head);
      } catch {
        // KV closed or unreachable; the next tick tries again.
      }
    }
  }

  /**
   * Stops every source; listeners receive nothing more.
   */
  close(): void {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    this.#channel.close();
    for (const stop of this.#stopListening) stop();
  }
}
