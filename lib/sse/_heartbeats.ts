/**
 * Heartbeats for every open event stream from ONE shared timer per interval: a stream that wrote
 * nothing for a whole interval gets a comment line, which keeps proxies from timing it out and
 * lets the server notice a vanished client.
 *
 * @module
 */

import { encodeComment } from "./encoder.ts";

/** A stream that takes heartbeats. */
export interface HeartbeatTarget {
  /** Set on every write by the stream (cheaper than reading a clock per write). */
  wrote: boolean;
  /** Half-intervals without a write (the hub's bookkeeping). */
  idle: number;
  /** Writes the heartbeat bytes if the stream has room; false when the stream is gone. */
  beat(bytes: Uint8Array): boolean;
}

/**
 * Runs heartbeats for its targets; the timer exists only while there are targets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HeartbeatHub } from "./_heartbeats.ts";
 * const hub = new HeartbeatHub(50);
 * const beat = Promise.withResolvers<string>();
 * const deadline = setTimeout(() => beat.reject(new Error("no heartbeat")), 2000);
 * const target = { wrote: false, idle: 0, beat: (bytes: Uint8Array) => {
 *   beat.resolve(new TextDecoder().decode(bytes));
 *   return true;
 * } };
 * hub.add(target);
 * assert.equal(await beat.promise, ":\n\n");
 * clearTimeout(deadline);
 * hub.delete(target);
 * ```
 */
export class HeartbeatHub {
  readonly #targets = new Set<HeartbeatTarget>();
  readonly #bytes = new TextEncoder().encode(encodeComment(""));
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /**
   * Starts heartbeats for a stream.
   */
  add(target: HeartbeatTarget): void {
    this.#targets.add(target);
    if (this.#timer === undefined) {
      const timer = setInterval(() => this.#beat(), Math.max(25, this.#intervalMs / 2));
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /**
   * Stops heartbeats for a stream (the timer stops with the last one).
   */
  delete(target: HeartbeatTarget): void {
    this.#targets.delete(target);
    if (this.#targets.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #beat(): void {
    // Runs every half interval: a stream idle for two of them gets a comment.
    for (const target of this.#targets) {
      if (target.wrote) {
        target.wrote = false;
        target.idle = 0;
        continue;
      }
      if (++target.idle < 2) continue;
      target.idle = 0;
      if (!target.beat(this.#bytes)) this.#targets.delete(target);
    }
  }
}

const heartbeatHubs = new Map<number, HeartbeatHub>();

/**
 * The isolate's shared hub for an interval.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heartbeatHub } from "./_heartbeats.ts";
 * assert.equal(heartbeatHub(15_000), heartbeatHub(15_000));
 * ```
 */
export function heartbeatHub(intervalMs: number): HeartbeatHub {
  let hub = heartbeatHubs.get(intervalMs);
  if (!hub) heartbeatHubs.set(intervalMs, hub = new HeartbeatHub(intervalMs));
  return hub;
}
