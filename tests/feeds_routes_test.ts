import assert from "node:assert/strict";
import { startServer } from "./support/server.ts";
import { openEventStream, publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

Deno.test("an order streams its six steps, ends, and a reconnect after completion gets 204", async () => {
  const server = await startServer({
    env: { TIDINGS_DEMO_FEEDS: "off", TIDINGS_FEED_SPEED: "50" },
  });
  try {
    const created = await fetch(`${server.url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ item: "Espresso beans" }),
    });
    assert.equal(created.status, 201);
    const order = await created.json();
    assert.match(order.id, /^ord_/);
    assert.equal(created.headers.get("location"), `/orders/${order.id}`);
    const stream = await openEventStream(`${server.url}/feeds/orders/${order.id}`);
    await stream.endedByServer();
    const events = stream.events;
    assert.equal(events.at(-1)!.type, "order_complete");
    assert.ok(events.slice(0, -1).every((event) => event.type === "order_update"));
    const final = JSON.parse(events.at(-1)!.data);
    assert.equal(final.status, "completed");
    assert.equal(final.item, "Espresso beans");
    assert.deepEqual(final.steps.map((step: { name: string }) => step.name), [
      "Order Received",
      "Payment Processing",
      "Inventory Check",
      "Packaging",
      "Shipping Label Created",
      "Ready for Pickup",
    ]);
    assert.ok(final.steps.every((step: { status: string }) => step.status === "completed"));
    // The browser's reconnect after the end carries the final id: 204 stops it for good.
    const again = await fetch(`${server.url}/feeds/orders/${order.id}`, {
      headers: { "last-event-id": events.at(-1)!.lastEventId },
    });
    assert.equal(again.status, 204);
    const state = await (await fetch(`${server.url}/orders/${order.id}`)).json();
    assert.equal(state.status, "completed");
  } finally {
    await server.close();
  }
});

Deno.test("bad and unknown orders, bad game ids and unknown feeds are refused with a reason", async () => {
  const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
  try {
    const cases: Array<[string, RequestInit | undefined, number, RegExp]> = [
      ["/feeds/orders/ord_aaaaaaaaaaaa", undefined, 404, /unknown order/],
      ["/feeds/orders/not-an-order", undefined, 400, /bad order id/],
      ["/orders/ord_aaaaaaaaaaaa", undefined, 404, /unknown order/],
      ["/feeds/games/Bad_Id!", undefined, 400, /bad game id/],
      ["/feeds/weather", undefined, 404, /unknown feed/],
      ["/feeds/toString", undefined, 404, /unknown feed/],
      ["/orders", { method: "POST", body: "{not json" }, 400, /malformed JSON/],
      ["/orders", { method: "POST", body: '{"item": 42}' }, 400, /item must be a string/],
      ["/chat/typing", { method: "POST", body: "[]" }, 400, /JSON body must be an object/],
      ["/chat/typing", { method: "POST", body: '{"user": ""}' }, 400, /body must be/],
      ["/feeds/chat?user=%00bad", undefined, 400, /user must be/],
    ];
    for (const [path, init, status, reason] of cases) {
      const response = await fetch(`${server.url}${path}`, init);
      const body = await response.text();
      assert.equal(response.status, status, `${path}: ${body}`);
      assert.match(body, reason, path);
    }
  } finally {
    await server.close();
  }
});

Deno.test("two viewers of one game see the same simulation, ending with the final score", async () => {
  const server = await startServer({
    env: { TIDINGS_DEMO_FEEDS: "off", TIDINGS_FEED_SPEED: "400" },
  });
  try {
    const first = await openEventStream(`${server.url}/feeds/games/final-four`);
    await first.waitFor(1);
    const second = await openEventStream(`${server.url}/feeds/games/final-four`, {
      headers: { "last-event-id": first.events[0].lastEventId },
    });
    await first.endedByServer();
    await second.endedByServer();
    assert.equal(first.events.at(-1)!.type, "game_final");
    assert.deepEqual(second.events, first.events.slice(1));
    const final = JSON.parse(first.events.at(-1)!.data);
    assert.equal(final.status, "final");
    assert.notEqual(final.homeTeam.score, final.awayTeam.score);
  } finally {
    await server.close();
  }
});

Deno.test("chat presence counts viewers who named themselves and shows who is typing", async () => {
  const server = await startServer({ env: { TIDINGS_FEED_SPEED: "4" } });
  const viewers = [];
  try {
    viewers.push(await openEventStream(`${server.url}/feeds/chat?user=ann`));
    viewers.push(await openEventStream(`${server.url}/feeds/chat?user=bob`));
    viewers.push(await openEventStream(`${server.url}/feeds/chat`));
    const typed = await fetch(`${server.url}/chat/typing`, {
      method: "POST",
      body: JSON.stringify({ user: "ann" }),
    });
    assert.equal(typed.status, 204);
    const watcher = viewers[2];
    const deadline = Date.now() + 10_000;
    let status: { activeUsers: number; users: string[]; typingUsers: string[] } | undefined;
    while (Date.now() < deadline) {
      const latest = watcher.events.at(-1);
      status = latest ? JSON.parse(latest.data) : undefined;
      if (status?.activeUsers === 2 && status.typingUsers.includes("ann")) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(status?.users, ["ann", "bob"]);
    assert.equal(status?.activeUsers, 2);
    assert.deepEqual(status?.typingUsers, ["ann"]);
  } finally {
    for (const viewer of viewers) await viewer.close();
    await server.close();
  }
});

Deno.test("a first connection to a shared feed gets its current state from the log: the newest 20 stock events, the newest system sample", async () => {
  // No demo feed runs: anything a stream gets at once can only come from the log.
  const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
  try {
    const token = await mercureToken({ publish: ["*"] });
    const stockIds: string[] = [];
    for (let n = 0; n < 25; n++) {
      const published = await publish(server.url, token, {
        topic: "stocks",
        type: "price_update",
        data: JSON.stringify({ symbol: "AAPL", price: n }),
      });
      assert.equal(published.status, 200, published.body);
      stockIds.push(published.body);
    }
    const systemIds: string[] = [];
    for (const memory of [1, 2]) {
      const published = await publish(server.url, token, {
        topic: "system",
        type: "metrics",
        data: JSON.stringify({ memory }),
      });
      systemIds.push(published.body);
    }
    const stocks = await openEventStream(`${server.url}/feeds/stocks`);
    const events = await stocks.waitFor(20);
    assert.deepEqual(events.map((event) => event.lastEventId), stockIds.slice(5));
    assert.deepEqual(JSON.parse(events[0].data), { symbol: "AAPL", price: 5 });
    // A fence: the current state was all there was.
    const fence = await publish(server.url, token, { topic: "stocks", data: "fence" });
    await stocks.waitFor(21);
    assert.equal(stocks.events[20].lastEventId, fence.body);
    await stocks.close();
    const system = await openEventStream(`${server.url}/feeds/system`);
    const [metrics] = await system.waitFor(1);
    assert.deepEqual(
      [metrics.type, metrics.lastEventId, JSON.parse(metrics.data)],
      ["metrics", systemIds[1], { memory: 2 }],
    );
    await system.close();
  } finally {
    await server.close();
  }
});

Deno.test("a Mercure subscription to games/{id} starts that game, and ?user= beside chat counts as present", async () => {
  const server = await startServer({ env: { TIDINGS_FEED_SPEED: "400" } });
  try {
    const hub = `${server.url}/.well-known/mercure`;
    const stream = await openEventStream(`${hub}?topic=chat&topic=games/mercure-one&user=cleo`);
    assert.equal(stream.response.status, 200);
    const deadline = Date.now() + 10_000;
    const seen = () => ({
      game: stream.events.some((event) => event.type === "game_final"),
      present: stream.events.some((event) =>
        event.type === "chat_status" && JSON.parse(event.data).users.includes("cleo")
      ),
    });
    while (!(seen().game && seen().present) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(seen(), { game: true, present: true });
    const gameEvents = stream.events.filter((event) => event.type.startsWith("game_"));
    assert.ok(gameEvents.every((event) => JSON.parse(event.data).gameId === "mercure-one"));
    await stream.close();
    const badName = await fetch(`${hub}?topic=chat&user=${encodeURIComponent("<b>")}`);
    assert.equal(badName.status, 400);
    assert.match(await badName.text(), /user must be/);
  } finally {
    await server.close();
  }
});

Deno.test("/feeds/latest gives the newest public event of each demo topic named, and refuses others", async () => {
  const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
  try {
    const token = await mercureToken({ publish: ["*"] });
    const ids: string[] = [];
    const updates: Record<string, string>[] = [
      { topic: "clock", type: "tick", data: '{"n":1}' },
      { topic: "clock", type: "tick", data: '{"n":2}' },
      { topic: "chat", type: "chat_status", data: '{"users":[]}' },
      { topic: "chat", type: "chat_status", data: '{"secret":true}', private: "on" },
    ];
    for (const fields of updates) {
      const published = await publish(server.url, token, fields);
      assert.equal(published.status, 200, published.body);
      ids.push(published.body.trim());
    }
    const response = await fetch(
      `${server.url}/feeds/latest?topic=clock&topic=chat&topic=games/none`,
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.deepEqual(await response.json(), [
      { topic: "clock", id: ids[1], type: "tick", data: '{"n":2}' },
    ]);
    for (const query of ["", "?topic=news", "?topic=games/Bad", `?${"topic=clock&".repeat(9)}`]) {
      const refused = await fetch(`${server.url}/feeds/latest${query}`);
      assert.equal(refused.status, 400, query);
      assert.match(await refused.text(), /topic/);
    }
  } finally {
    await server.close();
  }
});
