import assert from "node:assert/strict";
import { roundTo, seededRandom } from "../lib/feeds/feed.ts";
import { normalRandom, parseSymbols, stocksFeed } from "../lib/feeds/stocks.ts";
import { take } from "./support/take.ts";

const isCents = (value: number) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6;

Deno.test("stock prices walk in cents, stay positive and keep open, high and low consistent", async () => {
  const signal = new AbortController().signal;
  const events = await take(stocksFeed({ signal, speed: 1000, random: seededRandom(1) }), 600);
  const updates = events.filter((event) => event.type === "price_update");
  assert.ok(updates.length >= 500);
  const opens = new Map<string, number>();
  const volumes = new Map<string, number>();
  updates.forEach((update, index) => {
    const data = update.data as Record<string, number> & { symbol: string; time: string };
    if (index < 3) assert.equal(data.symbol, ["AAPL", "GOOGL", "MSFT"][index]);
    assert.ok(data.price > 0 && isCents(data.price), `bad price ${data.price}`);
    assert.ok(data.low <= data.price && data.price <= data.high);
    if (!opens.has(data.symbol)) opens.set(data.symbol, data.open);
    assert.equal(data.open, opens.get(data.symbol));
    assert.equal(data.change, roundTo(data.price - data.open, 2));
    assert.equal(data.changePercent, roundTo(((data.price - data.open) / data.open) * 100, 2));
    assert.ok(data.volume >= (volumes.get(data.symbol) ?? 1));
    volumes.set(data.symbol, data.volume);
    assert.equal("previousClose" in data, false);
    assert.equal(new Date(data.time).toISOString(), data.time);
  });
  assert.deepEqual([...opens.keys()], ["AAPL", "GOOGL", "MSFT"]);
});

Deno.test("stock walks start near real prices and other symbols near 100", async () => {
  const signal = new AbortController().signal;
  const symbols = ["AAPL", "GOOGL", "MSFT", "XYZ"];
  const updates = await take(
    stocksFeed({ signal, speed: 1000, symbols, random: seededRandom(3) }),
    4,
  );
  const expected = [190, 140, 410, 100];
  updates.forEach((update, index) => {
    assert.equal(update.data.symbol, symbols[index]);
    const open = update.data.open as number;
    assert.ok(Math.abs(open / expected[index] - 1) <= 0.02, `${symbols[index]} opened at ${open}`);
  });
});

Deno.test("a forced crash raises a down alert after its price update and never reaches zero", async () => {
  // random() = 0: the normal draw is 0, and every tick takes the jump branch downwards.
  const signal = new AbortController().signal;
  const events = await take(
    stocksFeed({ signal, speed: 1000, symbols: ["AAPL"], random: () => 0 }),
    2,
  );
  assert.deepEqual(events.map((event) => event.type), ["price_update", "alert"]);
  const [update, alert] = events;
  assert.equal(alert.data.symbol, "AAPL");
  assert.equal(alert.data.price, update.data.price);
  assert.equal(alert.data.direction, "down");
  assert.ok((alert.data.changePercent as number) < -2);
  assert.match(alert.data.message as string, /^AAPL dropped 2\.\d\d% in one tick to \$\d+\.\d\d$/);
  assert.equal(alert.data.time, update.data.time);

  const crash = await take(
    stocksFeed({ signal, speed: 1000, symbols: ["X"], random: () => 0 }),
    800,
  );
  const prices = crash.filter((event) => event.type === "price_update").map((event) =>
    event.data.price
  );
  assert.equal(prices.at(-1), 0.01);
  assert.ok(prices.every((price) => typeof price === "number" && price >= 0.01));
});

Deno.test("a steady climb raises one session alert when it crosses the threshold", async () => {
  // random() = 0.999: every tick is a +3.7 sigma move (about +0.07% for AAPL), never a jump.
  const signal = new AbortController().signal;
  const options = { signal, speed: 1000, symbols: ["AAPL"], random: () => 0.999 };
  const events = await take(stocksFeed({ ...options, alertThresholdPercent: 1 }), 40);
  const alerts = events.filter((event) => event.type === "alert");
  assert.equal(alerts.length, 1);
  const before = events[events.indexOf(alerts[0]) - 1];
  assert.equal(alerts[0].data.direction, "up");
  assert.equal(alerts[0].data.changePercent, before.data.changePercent);
  assert.ok((alerts[0].data.changePercent as number) >= 1);
  assert.match(alerts[0].data.message as string, /^AAPL is up 1\.\d\d% on the session at \$/);
  const crossing = events.filter((event) => event.type === "price_update")
    .findIndex((event) => (event.data.changePercent as number) >= 1);
  assert.equal(events.indexOf(before), crossing); // the alert follows the first update beyond 1%
});

Deno.test("stock alerts stay quiet when no move reaches the threshold", async () => {
  const signal = new AbortController().signal;
  const options = { signal, speed: 1000, symbols: ["AAPL"], random: () => 0.999 };
  const events = await take(stocksFeed({ ...options, alertThresholdPercent: 50 }), 30);
  assert.equal(events.filter((event) => event.type === "alert").length, 0);
});

Deno.test("a new UTC day starts a session: previous close, fresh open and volume", async () => {
  const signal = new AbortController().signal;
  const midnight = Date.UTC(2024, 0, 2);
  let tick = 0;
  const now = () => midnight - 3000 + 1000 * tick++; // a second later at every read
  const feed = stocksFeed({ signal, speed: 1000, symbols: ["MSFT"], random: seededRandom(5), now });
  const updates = (await take(feed, 4)).filter((event) => event.type === "price_update");
  const next = updates.findIndex((update) => update.data.time === new Date(midnight).toISOString());
  assert.ok(next >= 2, "no update at midnight");
  const [first, lastOfDay, firstOfNext] = [updates[0], updates[next - 1], updates[next]];
  assert.equal("previousClose" in first.data, false);
  assert.equal(firstOfNext.data.previousClose, lastOfDay.data.price);
  assert.equal(firstOfNext.data.open, lastOfDay.data.price);
  assert.ok((firstOfNext.data.volume as number) < (lastOfDay.data.volume as number));
  assert.equal(lastOfDay.data.previousClose, undefined);
});

Deno.test("normalRandom turns uniform draws into a standard normal distribution", () => {
  const random = seededRandom(11);
  const draws = Array.from({ length: 20_000 }, () => normalRandom(random));
  const mean = draws.reduce((sum, value) => sum + value, 0) / draws.length;
  const variance = draws.reduce((sum, value) => sum + (value - mean) ** 2, 0) / draws.length;
  assert.ok(Math.abs(mean) < 0.05, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
  assert.equal(Math.abs(normalRandom(() => 0)), 0);
});

Deno.test("parseSymbols accepts tickers and refuses bad ones with the reason", () => {
  assert.deepEqual(parseSymbols("aapl, MSFT ,brk.b,BF-B,,AAPL"), ["AAPL", "MSFT", "BRK.B", "BF-B"]);
  assert.deepEqual(parseSymbols("X1234567.9"), ["X1234567.9"]);
  for (const bad of ["AAPL,GO OG", "AAPL$", "TOOLONGTICKER", "ÄPFEL", "<script>"]) {
    assert.throws(() => parseSymbols(bad), (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, /^bad stock symbol ".+": use 1-10 characters/);
      return true;
    });
  }
  assert.throws(() => parseSymbols(" , "), RangeError);
});
