/**
 * The live fast path of an event stream. History and catch-up run in the subscription generator
 * ({@link subscribeUpdates}); once the subscriber is caught up, the generator hands it over and
 * every later dispatch writes straight into the connection's buffer: one write per dispatch, no
 * promise or generator hop per event. A connection whose buffer passes its bound is reported as
 * stalled (the caller drops it; the client resumes from KV).
 *
 * @module
 */

import type { Subscriber } from "./_subscriber.ts";
import type { StoredUpdate } from "./update.ts";
import type { SseSink } from "../sse/mod.ts";
import {
  encodeBatch,
  subscribeUpdates,
  type SubscriptionOptions,
  type SubscriptionSource,
} from "./_subscription.ts";

/**
 * Runs one subscription into an SSE sink until its signal aborts, its final update is sent, or the
 * client stalls.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { Hub } from "./hub.ts";
 * import { pushSubscription } from "./_push_subscription.ts";
 * import { ssePushResponse } from "../sse/mod.ts";
 * import { SelectorSet } from "../topics/mod.ts";
 * const kv = await Deno.openKv(":memory:");
 * const hub = await Hub.open(new KvTransport(kv));
 * await hub.publish({ topics: ["t"], data: "old", type: "end", id: "e" });
 * const response = ssePushResponse((sink) =>
 *   pushSubscription(hub, {
 *     selectors: new SelectorSet(["t"]), afterSeq: 0, accepts: () => true,
 *     signal: sink.signal, isFinal: (update) => update.type === "end",
 *   }, sink), { heartbeatMs: 0 });
 * assert.equal(await response.text(), "id: e\nevent: end\ndata: old\n\n");
 * hub.close();
 * kv.close();
 * ```
 */
export function pushSubscription(
  source: SubscriptionSource,
  options: SubscriptionOptions,
  sink: SseSink,
): Promise<void> {
  const { signal, isFinal } = options;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  const writeLive = (updates: StoredUpdate[]) => {
    let batch = updates;
    const finalIndex = isFinal ? batch.findIndex(isFinal) : -1;
    if (finalIndex >= 0) batch = batch.slice(0, finalIndex + 1);
    const fits = sink.write(encodeBatch(batch));
    options.onSent?.(batch.length);
    if (finalIndex >= 0) {
      sink.close();
      finish();
    } else if (!fits) {
      options.onStalled?.();
      finish();
    }
  };
  // Live, the subscription is callbacks and one pending promise: no suspended async function is
  // kept per connection.
  return catchUp(source, options, sink, writeLive).then((live) => {
    if (!live) return;
    if (signal.aborted) finish();
    else signal.addEventListener("abort", finish, { once: true });
    return finished.then(() => {
      signal.removeEventListener("abort", finish);
      live.sink = undefined;
      source.fanout.remove(live);
    });
  });
}

/**
 * Streams history and catch-up from the generator until it hands the subscriber over to live push
 * mode; returns the subscriber then (`undefined` when the stream ended first). A function of its
 * own so that the finished generator is not kept for the life of the connection.
 */
async function catchUp(
  source: SubscriptionSource,
  options: SubscriptionOptions,
  sink: SseSink,
  writeLive: (updates: StoredUpdate[]) => void,
): Promise<Subscriber | undefined> {
  let live: Subscriber | undefined;
  // The sink is installed inside the hand-off, synchronously, so no dispatch can slip between the
  // generator's last batch and the first push.
  const history = subscribeUpdates(source, {
    ...options,
    handOff: (subscriber) => {
      live = subscriber;
      subscriber.sink = writeLive;
    },
  });
  for await (const batch of history) {
    if (!sink.write(encodeBatch(batch)) && !(await sink.drained(options.signal))) return undefined;
  }
  return live;
}
