import assert from "node:assert/strict";
import { startServer } from "./support/server.ts";
import { type EventStreamHandle, openEventStream, publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { readMetrics, waitUntil } from "./support/hub_probe.ts";

const OFF = { TIDINGS_DEMO_FEEDS: "off", TIDINGS_SUBSCRIPTION_EVENTS: "off" };
const hub = (url: string, query: string) => `${url}/.well-known/mercure?${query}`;

Deno.test("a throttled stream sends at most one event per interval, each newer, ending with the final value", async () => {
  const server = await startServer({ env: OFF });
  const arrivals: number[] = [];
  let stream: EventStreamHandle | undefined;
  try {
    const token = await mercureToken({ publish: ["*"] });
    stream = await openEventStream(hub(server.url, "topic=ticker&throttle=200"));
    const handle = stream;
    const watching = (async () => {
      for (let seen = 0; seen < 50; seen++) {
        await handle.waitFor(seen + 1, 10_000).catch(() => {});
        if (handle.events.length <= seen) return;
        arrivals.push(performance.now());
        if (handle.events[seen].data === "49") return;
      }
    })();
    // 50 updates over about a second: several throttle intervals.
    for (let n = 0; n < 50; n++) {
      assert.equal(
        (await publish(server.url, token, { topic: "ticker", data: `${n}` })).status,
        200,
      );
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    await watching;
    const values = stream.events.map((event) => Number(event.data));
    assert.ok(values.every(Number.isInteger), `${values}`);
    assert.equal(values.at(-1), 49, "the final value is delivered");
    for (let i = 1; i < values.length; i++) {
      assert.ok(values[i] > values[i - 1], `values go forward: ${values}`);
      const gap = arrivals[i] - arrivals[i - 1];
      assert.ok(gap >= 100, `events ${i - 1} and ${i} arrived ${gap.toFixed(0)} ms apart`);
    }
    assert.ok(values.length < 50, "quick updates were conflated");
    // A fence: anything sent after the final value would arrive before it.
    const fence = await publish(server.url, token, { topic: "ticker", data: "fence" });
    const next = (await stream.waitFor(values.length + 1))[values.length];
    assert.equal(next.lastEventId, fence.body, "nothing after the final value");
  } finally {
    await stream?.close();
    await server.close();
  }
});

Deno.test("a throttled replay conflates the backlog to the newest update of each topic", async () => {
  const server = await startServer({ env: OFF });
  let stream: EventStreamHandle | undefined;
  try {
    const token = await mercureToken({ publish: ["*"] });
    for (let n = 0; n < 20; n++) {
      for (const topic of ["a", "b"]) {
        assert.equal(
          (await publish(server.url, token, { topic, data: `${topic}${n}` })).status,
          200,
        );
      }
    }
    stream = await openEventStream(
      hub(server.url, "topic=a&topic=b&throttle=200&lastEventID=earliest"),
    );
    assert.deepEqual((await stream.waitFor(2)).map((event) => event.data), ["a19", "b19"]);
    // The next event is the next update published: the backlog sent nothing else (a fence).
    const last = await publish(server.url, token, { topic: "a", data: "a20" });
    const third = (await stream.waitFor(3))[2];
    assert.deepEqual([third.data, third.lastEventId], ["a20", last.body]);
  } finally {
    await stream?.close();
    await server.close();
  }
});

Deno.test("filters deliver exactly the JSON updates whose fields match", async () => {
  const server = await startServer({ env: OFF });
  const filters: Record<string, string> = {
    symbol: "filter=symbol:AAPL",
    nested: "filter=quote.symbol:AAPL",
    either: "filter=symbol:AAPL|MSFT",
    both: "filter=symbol:AAPL&filter=price:2",
  };
  const streams = new Map<string, EventStreamHandle>();
  try {
    const token = await mercureToken({ publish: ["*"] });
    for (const [name, query] of Object.entries(filters)) {
      streams.set(name, await openEventStream(hub(server.url, `topic=quotes&${query}`)));
    }
    const updates = [
      { n: 1, symbol: "AAPL", price: 1 },
      { n: 2, symbol: "MSFT", price: 2 },
      "not json",
      { n: 4, symbol: "AAPL", price: "2" },
      { n: 5, quote: { symbol: "AAPL" } },
      { n: 6, symbol: { name: "AAPL" } },
      { n: 7, symbol: "GOOGL", price: 2 },
      { n: 8, symbol: "AAPL", price: 2, quote: { symbol: "AAPL" } },
    ];
    for (const update of updates) {
      const data = typeof update === "string" ? update : JSON.stringify(update);
      assert.equal((await publish(server.url, token, { topic: "quotes", data })).status, 200);
    }
    const expected: Record<string, number[]> = {
      symbol: [1, 4, 8],
      nested: [5, 8],
      either: [1, 2, 4, 8],
      both: [4, 8],
    };
    for (const [name, numbers] of Object.entries(expected)) {
      const events = await streams.get(name)!.waitFor(numbers.length);
      assert.deepEqual(events.map((event) => JSON.parse(event.data).n), numbers, name);
    }
    // A fence that every filter accepts: anything else delivered would arrive before it.
    const fence = { n: 9, symbol: "AAPL", price: 2, quote: { symbol: "AAPL" } };
    assert.equal(
      (await publish(server.url, token, { topic: "quotes", data: JSON.stringify(fence) })).status,
      200,
    );
    for (const [name, numbers] of Object.entries(expected)) {
      const events = await streams.get(name)!.waitFor(numbers.length + 1);
      assert.equal(JSON.parse(events[numbers.length].data).n, 9, `${name}: nothing else`);
    }
    // A filtered replay gets the same selection.
    const replay = await openEventStream(
      hub(server.url, "topic=quotes&filter=symbol:AAPL&lastEventID=earliest"),
    );
    streams.set("replay", replay);
    const replayed = await replay.waitFor(4);
    assert.deepEqual(replayed.map((event) => JSON.parse(event.data).n), [1, 4, 8, 9]);
  } finally {
    for (const stream of streams.values()) await stream.close();
    await server.close();
  }
});

Deno.test("a malformed filter or throttle is refused with 400 and the reason", async () => {
  const server = await startServer({ env: OFF });
  try {
    const cases: Array<[string, string]> = [
      ["filter=nocolon", 'bad filter "nocolon": expected field:value, e.g. symbol:AAPL'],
      ["filter=:AAPL", 'bad filter ":AAPL": expected field:value, e.g. symbol:AAPL'],
      ["filter=a..b:x", 'bad filter "a..b:x": expected field:value, e.g. symbol:AAPL'],
      [Array(17).fill("filter=a:1").join("&"), "at most 16 filter parameters"],
      ["throttle=0", "throttle must be an integer number of milliseconds from 1 to 3600000"],
      ["throttle=fast", "throttle must be an integer number of milliseconds from 1 to 3600000"],
    ];
    for (const [query, reason] of cases) {
      const response = await fetch(hub(server.url, `topic=quotes&${query}`));
      assert.equal(response.status, 400, query);
      assert.equal(await response.text(), `${reason}\n`, query);
    }
    const metrics = await readMetrics(server.url);
    assert.equal(metrics.get("tidings_open_connections"), 0, "no refused stream holds a slot");
  } finally {
    await server.close();
  }
});

Deno.test("a backlog goes out by priority, conflates negative priorities and keeps ids replay-safe", async () => {
  const server = await startServer({ env: OFF });
  try {
    const token = await mercureToken({ publish: ["*"] });
    const sent: Array<[string, string, string]> = [
      ["feed", "f1", "0"],
      ["feed", "f2", "0"],
      ["alerts", "alarm", "5"],
      ["ticker", "t1", "-1"],
      ["ticker", "t2", "-1"],
      ["ticker", "t3", "-1"],
    ];
    const ids: Record<string, string> = {};
    for (const [topic, data, priority] of sent) {
      const result = await publish(server.url, token, { topic, data, priority });
      assert.equal(result.status, 200, result.body);
      ids[data] = result.body;
    }
    const refused = await publish(server.url, token, {
      topic: "feed",
      data: "x",
      priority: "1000",
    });
    assert.deepEqual(
      [refused.status, refused.body],
      [400, "priority must be an integer from -999 to 999\n"],
    );
    // Every update has reached the broker, so a replay is one backlog batch.
    await waitUntil("the broker to deliver the updates", async () => {
      return ((await readMetrics(server.url)).get("tidings_broker_delivered_total") ?? 0) >= 6;
    });
    const response = await fetch(
      hub(server.url, "topic=feed&topic=alerts&topic=ticker&lastEventID=earliest"),
    );
    const expected = "retry: 3000\n\n" +
      "data: alarm\n\n" +
      `id: ${ids.f1}\ndata: f1\n\n` +
      `id: ${ids.f2}\ndata: f2\n\n` +
      `id: ${ids.t3}\ndata: t3\n\n` +
      `id: ${ids.t3}\n\n`;
    let text = "";
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const timeout = setTimeout(() => reader.cancel(), 5000);
    while (text.length < expected.length) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    clearTimeout(timeout);
    await reader.cancel();
    assert.equal(text, expected);
  } finally {
    await server.close();
  }
});
