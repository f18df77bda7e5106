/**
 * Unit tests of the live push path (`lib/hub/push_subscription.ts`) against a recording sink:
 * history first, then one write per dispatch straight from the fan-out; a full buffer reports the
 * client stalled and ends the subscription; a final update closes the stream; an abort unregisters.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Broker } from "../lib/hub/_broker.ts";
import { EventLog } from "../lib/hub/_event_log.ts";
import { Fanout } from "../lib/hub/_fanout.ts";
import { pushSubscription } from "../lib/hub/_push_subscription.ts";
import type { SubscriptionOptions } from "../lib/hub/_subscription.ts";
import { KvTransport } from "../lib/kv/kv_transport.ts";
import type { SseSink } from "../lib/sse/response.ts";
import { SelectorSet } from "../lib/topics/topic_selector.ts";
import { waitUntil, within } from "./support/hub_probe.ts";

async function openCore() {
  const kv = await Deno.openKv(":memory:");
  const log = await EventLog.open(new KvTransport(kv));
  const broker = await Broker.start(log);
  const fanout = new Fanout();
  broker.listen((updates) => fanout.dispatch(updates));
  return {
    log,
    broker,
    fanout,
    source: { log, broker, fanout },
    close() {
      broker.close();
      kv.close();
    },
  };
}

/** A sink that records each write as text; `fits` decides what `write` answers. */
function recordingSink() {
  const controller = new AbortController();
  const writes: string[] = [];
  const sink = {
    fits: true,
    closed: false,
    signal: controller.signal,
    write(chunk: Uint8Array) {
      writes.push(new TextDecoder().decode(chunk));
      return sink.fits;
    },
    drained: () => Promise.resolve(true),
    close() {
      sink.closed = true;
      controller.abort();
    },
    abort() {
      controller.abort();
    },
  };
  return { sink: sink as SseSink & typeof sink, writes, controller };
}

function options(
  extra: Partial<SubscriptionOptions> & { signal: AbortSignal },
): SubscriptionOptions {
  return { selectors: new SelectorSet(["feed"]), accepts: () => true, ...extra };
}

Deno.test("history goes first, then each dispatch is one write straight from the fan-out", async () => {
  const core = await openCore();
  const { sink, writes, controller } = recordingSink();
  try {
    await core.log.append({ topics: ["feed"], data: "old", id: "o" });
    const done = pushSubscription(core.source, options({ afterSeq: 0, signal: sink.signal }), sink);
    await waitUntil("the history write", () => writes.length === 1);
    assert.deepEqual(writes, ["id: o\ndata: old\n\n"]);
    await waitUntil("the hand-off to push mode", () => core.fanout.size === 1);
    // From the log, through the broker.
    await core.log.append({ topics: ["feed"], data: "c", id: "c" });
    await waitUntil("the live write", () => writes.length === 2);
    assert.equal(writes[1], "id: c\ndata: c\n\n");
    // One dispatch of two updates (as one group commit brings them): one write.
    core.fanout.dispatch([
      { seq: 3, id: "a", topics: ["feed"], data: "a", time: 0 },
      { seq: 4, id: "b", topics: ["feed"], data: "b", time: 0 },
    ]);
    assert.deepEqual(writes.slice(2), ["id: a\ndata: a\n\nid: b\ndata: b\n\n"]);
    assert.equal(core.fanout.size, 1);
    controller.abort();
    await within(5000, done, "the subscription to end on abort");
    assert.equal(core.fanout.size, 0, "unregistered on abort");
  } finally {
    controller.abort();
    core.close();
  }
});

Deno.test("a live write past the buffer bound reports the client stalled and ends the subscription", async () => {
  const core = await openCore();
  const { sink, writes, controller } = recordingSink();
  let stalls = 0;
  try {
    const done = pushSubscription(
      core.source,
      { ...options({ signal: sink.signal }), onStalled: () => stalls++ },
      sink,
    );
    await waitUntil("the hand-off to push mode", () => core.fanout.size === 1);
    sink.fits = false;
    await core.log.append({ topics: ["feed"], data: "too much", id: "x" });
    await within(5000, done, "the subscription to end when stalled");
    assert.deepEqual([stalls, writes.length, core.fanout.size], [1, 1, 0]);
  } finally {
    controller.abort();
    core.close();
  }
});

Deno.test("a final update in a live batch is the last thing written and closes the stream", async () => {
  const core = await openCore();
  const { sink, writes, controller } = recordingSink();
  try {
    const done = pushSubscription(
      core.source,
      { ...options({ signal: sink.signal }), isFinal: (update) => update.type === "end" },
      sink,
    );
    await waitUntil("the hand-off to push mode", () => core.fanout.size === 1);
    await Promise.all([
      core.log.append({ topics: ["feed"], data: "1", id: "1" }),
      core.log.append({ topics: ["feed"], data: "2", id: "2", type: "end" }),
      core.log.append({ topics: ["feed"], data: "3", id: "3" }),
    ]);
    await within(5000, done, "the subscription to end after its final update");
    assert.equal(sink.closed, true);
    assert.equal(writes.join(""), "id: 1\ndata: 1\n\nid: 2\nevent: end\ndata: 2\n\n");
    assert.equal(core.fanout.size, 0);
  } finally {
    controller.abort();
    core.close();
  }
});
