/**
 * Unit tests of the subscription generator (`lib/hub/subscription.ts`) on an in-memory log: the
 * switch from history to live while publishing continues, catch-up from the log after the live
 * queue overflows, the stalled-consumer report, the hand-off to push mode and the final update.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Broker } from "../lib/hub/_broker.ts";
import { EventLog } from "../lib/hub/_event_log.ts";
import { Fanout } from "../lib/hub/_fanout.ts";
import type { Subscriber } from "../lib/hub/_subscriber.ts";
import { subscribeUpdates, type SubscriptionOptions } from "../lib/hub/_subscription.ts";
import type { StoredUpdate } from "../lib/hub/update.ts";
import { KvTransport } from "../lib/kv/kv_transport.ts";
import { SelectorSet } from "../lib/topics/topic_selector.ts";
import { waitUntil, within } from "./support/hub_probe.ts";

/** An in-memory hub core: log, broker and fan-out wired as the hub wires them. */
async function openCore() {
  const kv = await Deno.openKv(":memory:");
  const log = await EventLog.open(new KvTransport(kv));
  const broker = await Broker.start(log);
  const fanout = new Fanout();
  broker.listen((updates) => fanout.dispatch(updates));
  /** Subscribers as the generator registers them, so a test can watch their queues. */
  const registered: Subscriber[] = [];
  const add = fanout.add.bind(fanout);
  fanout.add = (subscriber) => {
    registered.push(subscriber);
    add(subscriber);
  };
  return {
    log,
    broker,
    fanout,
    registered,
    source: { log, broker, fanout },
    close() {
      broker.close();
      kv.close();
    },
  };
}

function options(
  selectors: string[],
  extra: Partial<SubscriptionOptions> & { signal: AbortSignal },
): SubscriptionOptions {
  return { selectors: new SelectorSet(selectors), accepts: () => true, ...extra };
}

/** Consumes batches until `count` updates arrived (10 s at most); returns them. */
function collect(
  batches: AsyncGenerator<StoredUpdate[]>,
  count: number,
  afterEach: () => Promise<unknown> = () => Promise.resolve(),
): Promise<StoredUpdate[]> {
  const seen: StoredUpdate[] = [];
  const collecting = (async () => {
    while (seen.length < count) {
      const { value, done } = await batches.next();
      if (done) break;
      seen.push(...value);
      await afterEach();
    }
    return seen;
  })();
  return within(10_000, collecting, `${count} updates`)
    .catch((error) => {
      throw new Error(`${error.message}: had ${seen.map((update) => update.seq)}`);
    });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

for (const selector of ["feed", "{name}"]) {
  const reads = selector === "feed" ? "the topic's log" : "the hub-wide log";
  Deno.test(`history switches to live while publishing continues: every position once, in order (${reads})`, async () => {
    const core = await openCore();
    const controller = new AbortController();
    try {
      for (let n = 1; n <= 200; n++) await core.log.append({ topics: ["feed"], data: `${n}` });
      const batches = subscribeUpdates(
        core.source,
        options([selector], { afterSeq: 0, signal: controller.signal }),
      );
      // Publishing goes on, in concurrent group commits, while history is read and sent.
      const publishing = (async () => {
        for (let round = 0; round < 20; round++) {
          await Promise.all(
            range(1, 10).map((i) =>
              core.log.append({ topics: ["feed"], data: `${200 + round * 10 + i}` })
            ),
          );
        }
      })();
      // A consumer that yields between batches, so the switch happens mid-stream.
      const seen = await collect(batches, 400, () => new Promise((r) => setTimeout(r, 0)));
      await publishing;
      assert.deepEqual(seen.map((update) => update.seq), range(1, 400));
      controller.abort();
      await batches.return();
    } finally {
      core.close();
    }
  });
}

Deno.test("a subscriber whose live queue overflows catches up from the log, nothing lost or repeated", async () => {
  const core = await openCore();
  const controller = new AbortController();
  try {
    const batches = subscribeUpdates(
      core.source,
      // Each queued update counts its data plus 64 bytes: four of these pass 400 bytes.
      options(["feed"], { signal: controller.signal, maxQueuedBytes: 400 }),
    );
    const first = batches.next();
    await core.log.append({ topics: ["feed"], data: "1" });
    const seen = [...(await first).value as StoredUpdate[]];
    // While the consumer is away, twenty updates arrive: the queue overflows.
    for (let n = 2; n <= 21; n++) await core.log.append({ topics: ["feed"], data: `${n}` });
    await waitUntil("the broker to deliver all", () => core.broker.cursor === 21);
    const [subscriber] = core.registered;
    assert.notEqual(subscriber.overflowedAt, undefined, "the live queue overflowed");
    seen.push(...await collect(batches, 20));
    assert.deepEqual(seen.map((update) => update.data), range(1, 21).map(String));
    // And live again afterwards.
    const next = batches.next();
    await core.log.append({ topics: ["feed"], data: "22" });
    assert.deepEqual((await next).value?.map((update) => update.data), ["22"]);
    controller.abort();
    await batches.return();
  } finally {
    controller.abort();
    core.close();
  }
});

Deno.test("onStalled is called when the queue overflows while the consumer holds a batch", async () => {
  const core = await openCore();
  const controller = new AbortController();
  let stalls = 0;
  try {
    const batches = subscribeUpdates(core.source, {
      ...options(["feed"], { signal: controller.signal, maxQueuedBytes: 400 }),
      onStalled: () => stalls++,
    });
    const first = batches.next();
    await core.log.append({ topics: ["feed"], data: "1" });
    await first; // the consumer holds this batch and does not ask for the next
    for (let n = 2; n <= 21; n++) await core.log.append({ topics: ["feed"], data: `${n}` });
    await waitUntil("the broker to deliver all", () => core.broker.cursor === 21);
    assert.equal(stalls, 1);
    controller.abort();
    await batches.return();
  } finally {
    controller.abort();
    core.close();
  }
});

Deno.test("a caught-up subscription hands its subscriber off and stays registered", async () => {
  const core = await openCore();
  const controller = new AbortController();
  try {
    await core.log.append({ topics: ["feed"], data: "old" });
    // Registered after the broker delivered it, so "old" is history, not live.
    await waitUntil("the broker to deliver it", () => core.broker.cursor === 1);
    let handed: Subscriber | undefined;
    const batches = subscribeUpdates(core.source, {
      ...options(["feed"], { afterSeq: 0, signal: controller.signal }),
      handOff: (subscriber) => handed = subscriber,
    });
    assert.deepEqual((await batches.next()).value?.map((update) => update.data), ["old"]);
    assert.deepEqual(await batches.next(), { value: undefined, done: true });
    assert.equal(handed, core.registered[0]);
    assert.equal(core.fanout.size, 1, "still registered for the push path");
    await core.log.append({ topics: ["feed"], data: "new" });
    await waitUntil("the broker to deliver it", () => core.broker.cursor === 2);
    assert.deepEqual(handed!.take().map((update) => update.data), ["new"]);
  } finally {
    controller.abort();
    core.close();
  }
});

Deno.test("a subscription ends after its final update and unregisters", async () => {
  const core = await openCore();
  const controller = new AbortController();
  try {
    for (const data of ["a", "end", "after"]) await core.log.append({ topics: ["feed"], data });
    const batches = subscribeUpdates(core.source, {
      ...options(["feed"], { afterSeq: 0, signal: controller.signal }),
      isFinal: (update) => update.data === "end",
    });
    assert.deepEqual((await batches.next()).value?.map((update) => update.data), ["a", "end"]);
    assert.deepEqual(await batches.next(), { value: undefined, done: true });
    assert.equal(core.fanout.size, 0);
  } finally {
    controller.abort();
    core.close();
  }
});
