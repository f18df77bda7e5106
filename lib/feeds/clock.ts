/**
 * The clock feed: a `"tick"` every second (divided by the speed), aligned to whole seconds of
 * real time.
 *
 * @module
 */

import { sleep } from "../util/abortable.ts";
import { type FeedEvent, type FeedOptions, isoTime, scaledMs } from "./feed.ts";

/**
 * Yields `{ type: "tick", data: { time, epochMs } }` at every whole second (at speed 1; at speed
 * `s`, at every multiple of `1000 / s` ms). `epochMs` is the boundary the tick was scheduled for,
 * so consecutive ticks are exactly one period apart; a tick missed while the process stalled is
 * skipped, never sent late in a burst. Returns when `signal` aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clockFeed } from "./clock.ts";
 * const controller = new AbortController();
 * const ticks = clockFeed({ signal: controller.signal, speed: 100, now: () => 1_000 });
 * const { value } = await ticks.next(); // speed 100: a tick every 10 ms, on the boundary
 * assert.deepEqual(value, { type: "tick", data: { time: "1970-01-01T00:00:01.010Z", epochMs: 1_010 } });
 * controller.abort();
 * await ticks.return(undefined);
 * ```
 */
export async function* clockFeed(options: FeedOptions): AsyncGenerator<FeedEvent> {
  const { signal } = options;
  const now = options.now ?? Date.now;
  const period = Math.max(1, scaledMs(1000, options.speed));
  let previous = -Infinity;
  while (!signal.aborted) {
    const current = now();
    // The next boundary strictly after both the current time and the previous tick.
    let next = (Math.floor(current / period) + 1) * period;
    if (next <= previous) next = previous + period;
    if (!(await sleep(next - current, signal))) return;
    previous = next;
    const epochMs = Math.round(next);
    yield { type: "tick", data: { time: isoTime(epochMs), epochMs } };
  }
}
