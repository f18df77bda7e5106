import assert from "node:assert/strict";
import { Notifier, sleep } from "../lib/util/abortable.ts";
import { type FeedEvent, isoTime, roundTo, scaledMs, seededRandom } from "../lib/feeds/feed.ts";
import { clockFeed } from "../lib/feeds/clock.ts";
import { stocksFeed } from "../lib/feeds/stocks.ts";
import { chatFeed, TypingTracker } from "../lib/feeds/chat.ts";
import { systemFeed } from "../lib/feeds/system.ts";
import { orderWorkflow } from "../lib/feeds/orders.ts";
import { gameSimulation } from "../lib/feeds/games.ts";
import { take } from "./support/take.ts";

Deno.test("seeded random repeats its sequence for a seed and stays in [0, 1)", () => {
  const first = seededRandom(7);
  const second = seededRandom(7);
  const a = Array.from({ length: 1000 }, first);
  const b = Array.from({ length: 1000 }, second);
  assert.deepEqual(a, b);
  assert.ok(a.every((value) => value >= 0 && value < 1));
  assert.notDeepEqual(Array.from({ length: 5 }, seededRandom(8)), a.slice(0, 5));
  assert.ok(new Set(a).size > 990);
});

Deno.test("roundTo rounds halves away from zero without binary artefacts", () => {
  assert.equal(roundTo(1.005, 2), 1.01);
  assert.equal(roundTo(-2.25, 1), -2.3);
  assert.equal(roundTo(0.1 + 0.2, 2), 0.3);
  assert.equal(roundTo(1e-9, 2), 0);
  assert.equal(roundTo(33.333333), 33.3);
});

Deno.test("scaledMs divides by the speed and refuses a speed that is not positive", () => {
  assert.equal(scaledMs(2000, 4), 500);
  assert.equal(scaledMs(2000), 2000);
  assert.throws(() => scaledMs(1000, 0), RangeError);
  assert.throws(() => scaledMs(1000, Number.NaN), RangeError);
});

Deno.test("clock ticks are one second apart and on whole seconds at speed 1", async () => {
  // A clock that always reads 1 ms before the next second, and a second later at every read.
  let fake = 1_700_000_000_999;
  const now = () => {
    const value = fake;
    fake += 1000;
    return value;
  };
  const ticks = await take(clockFeed({ signal: new AbortController().signal, now }), 4);
  const epochs = ticks.map((tick) => tick.data.epochMs as number);
  assert.deepEqual(epochs, [
    1_700_000_001_000,
    1_700_000_002_000,
    1_700_000_003_000,
    1_700_000_004_000,
  ]);
  for (const tick of ticks) {
    assert.equal(tick.type, "tick");
    assert.equal(tick.data.time, isoTime(tick.data.epochMs as number));
  }
});

Deno.test("clock skips the ticks it missed during a stall instead of bursting", async () => {
  const reads = [1_700_000_000_999, 1_700_000_004_999, 1_700_000_005_999];
  const now = () => reads.shift() ?? 1_700_000_009_999;
  const ticks = await take(clockFeed({ signal: new AbortController().signal, now }), 3);
  assert.deepEqual(ticks.map((tick) => tick.data.epochMs), [
    1_700_000_001_000,
    1_700_000_005_000,
    1_700_000_006_000,
  ]);
});

Deno.test("clock at speed 10 ticks on every tenth of a second", async () => {
  let fake = 1_700_000_000_099;
  const now = () => (fake += 100) - 100;
  const ticks = await take(clockFeed({ signal: new AbortController().signal, now, speed: 10 }), 3);
  assert.deepEqual(ticks.map((tick) => tick.data.epochMs), [
    1_700_000_000_100,
    1_700_000_000_200,
    1_700_000_000_300,
  ]);
});

/**
 * Starts `feed`, takes `before` events, asks for one more (which parks the generator in a long
 * wait), aborts, and checks the pending request ends the generator (its finally ran).
 */
async function assertStopsOnAbort(
  name: string,
  makeFeed: (signal: AbortSignal) => AsyncGenerator<FeedEvent>,
  before: number,
) {
  const controller = new AbortController();
  const feed = makeFeed(controller.signal);
  for (let index = 0; index < before; index++) assert.equal((await feed.next()).done, false);
  const pending = feed.next();
  await sleep(30);
  controller.abort();
  const guard = new AbortController();
  const result = await Promise.race([pending, sleep(5000, guard.signal).then(() => "stuck")]);
  guard.abort();
  assert.deepEqual(result, { done: true, value: undefined }, `${name} did not stop on abort`);
  assert.deepEqual(await feed.next(), { done: true, value: undefined });
}

const SLOW = 0.0001; // every wait lasts hours: an abort always finds the feed sleeping

Deno.test("every feed returns promptly when its signal aborts in the middle of a wait", async () => {
  await assertStopsOnAbort("clock", (signal) => clockFeed({ signal, speed: SLOW }), 0);
  await assertStopsOnAbort("stocks", (signal) => stocksFeed({ signal, speed: SLOW }), 0);
  await assertStopsOnAbort(
    "chat",
    (signal) =>
      chatFeed({ signal, speed: SLOW, presence: () => ["ann"], typing: new TypingTracker() }),
    1,
  );
  await assertStopsOnAbort("system", (signal) => systemFeed({ signal, speed: SLOW }), 0);
  await assertStopsOnAbort(
    "orders",
    (signal) => orderWorkflow({ signal, speed: SLOW, orderId: "ord_abcdefghijkl" }),
    1,
  );
  await assertStopsOnAbort(
    "games",
    (signal) => gameSimulation({ signal, speed: SLOW, gameId: "g", random: () => 0.5 }),
    1,
  );
});

Deno.test("every feed asked for more after an abort between events returns at once", async () => {
  const typing = new TypingTracker();
  const feeds: [string, (signal: AbortSignal) => AsyncGenerator<FeedEvent>][] = [
    ["clock", (signal) => clockFeed({ signal, speed: 1000 })],
    ["stocks", (signal) => stocksFeed({ signal, speed: 1000 })],
    ["chat", (signal) => chatFeed({ signal, presence: () => [], typing, changed: new Notifier() })],
    ["system", (signal) => systemFeed({ signal, intervalMs: 1 })],
    ["orders", (signal) => orderWorkflow({ signal, speed: 1000, orderId: "ord_abcdefghijkl" })],
    ["games", (signal) => gameSimulation({ signal, speed: 1000, gameId: "g" })],
  ];
  for (const [name, makeFeed] of feeds) {
    const controller = new AbortController();
    const feed = makeFeed(controller.signal);
    assert.equal((await feed.next()).done, false, name);
    controller.abort();
    const guard = new AbortController();
    const result = await Promise.race([feed.next(), sleep(5000, guard.signal).then(() => "stuck")]);
    guard.abort();
    assert.deepEqual(result, { done: true, value: undefined }, `${name} went on after abort`);
  }
});

Deno.test("a feed's finally runs when the signal aborts mid-sleep", async () => {
  const controller = new AbortController();
  let cleanedUp = false;
  async function* wrapped() {
    try {
      yield* orderWorkflow({ signal: controller.signal, speed: SLOW, orderId: "ord_abcdefghijkl" });
    } finally {
      cleanedUp = true;
    }
  }
  const feed = wrapped();
  await feed.next();
  const pending = feed.next();
  await sleep(10);
  assert.equal(cleanedUp, false);
  controller.abort();
  assert.equal((await pending).done, true);
  assert.equal(cleanedUp, true);
});

Deno.test("a feed started with an aborted signal yields nothing", async () => {
  const signal = AbortSignal.abort();
  assert.deepEqual(await take(clockFeed({ signal }), 1), []);
  assert.deepEqual(await take(stocksFeed({ signal }), 1), []);
  assert.deepEqual(await take(systemFeed({ signal }), 1), []);
  assert.deepEqual(await take(orderWorkflow({ signal, orderId: "ord_abcdefghijkl" }), 1), []);
  assert.deepEqual(await take(gameSimulation({ signal, gameId: "g" }), 1), []);
  const typing = new TypingTracker();
  assert.deepEqual(await take(chatFeed({ signal, presence: () => [], typing }), 1), []);
});
