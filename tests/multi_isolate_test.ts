import assert from "node:assert/strict";
import { startServer } from "./support/server.ts";
import { openEventStream, publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { assertIncreasingPositions, positionOf } from "./support/hub_ids.ts";

const BURST = 400;

Deno.test("two isolates deliver every event of both isolates' bursts once and in order", async () => {
  const dir = await Deno.makeTempDir();
  const server = await startServer({
    parallel: 2,
    env: { TIDINGS_KV_PATH: `${dir}/hub.kv`, TIDINGS_DEMO_FEEDS: "off" },
  });
  const subscribers = [];
  try {
    const token = await mercureToken({ publish: ["*"] });
    // Several subscribers on separate connections, so both isolates hold some.
    for (let i = 0; i < 6; i++) {
      const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
      subscribers.push(
        await openEventStream(`${server.url}/.well-known/mercure?topic=burst`, { client }),
      );
    }
    const isolates = new Set<string>();
    const publishOne = async (n: number, client: Deno.HttpClient) => {
      const form = new URLSearchParams({ topic: "burst", data: String(n) });
      const response = await fetch(`${server.url}/.well-known/mercure`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: form,
        client,
      });
      assert.equal(response.status, 200, await response.clone().text());
      isolates.add(response.headers.get("x-tidings-isolate") ?? "?");
      return await response.text();
    };
    // Two bursts at once, each from its own set of connections, concurrently in flight.
    const clients = Array.from(
      { length: 8 },
      () => Deno.createHttpClient({ poolMaxIdlePerHost: 0 }),
    );
    const ids: string[] = new Array(BURST);
    await Promise.all(clients.map(async (client, lane) => {
      for (let n = lane; n < BURST; n += clients.length) ids[n] = await publishOne(n, client);
    }));
    // A fence: once it arrives, the whole burst is due before it, in position order.
    const fence = await publishOne(BURST, clients[0]);
    for (const client of clients) client.close();
    assert.ok(isolates.size >= 2, `publishes reached ${isolates.size} isolate(s)`);
    // The hub's answers name each update's position: the order every subscriber must see.
    const published = [...ids].sort((a, b) => positionOf(a) - positionOf(b));
    for (const [index, subscriber] of subscribers.entries()) {
      const events = await subscriber.waitFor(BURST + 1, 20_000);
      const received = events.map((event) => event.lastEventId);
      assertIncreasingPositions(received, `subscriber ${index}`);
      assert.deepEqual(received, [...published, fence]);
    }
  } finally {
    for (const subscriber of subscribers) await subscriber.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a restarted server resumes from Last-Event-ID with nothing lost or repeated", async () => {
  const dir = await Deno.makeTempDir();
  const env = { TIDINGS_KV_PATH: `${dir}/hub.kv`, TIDINGS_DEMO_FEEDS: "off" };
  const token = await mercureToken({ publish: ["*"] });
  let server = await startServer({ env });
  try {
    const ids: string[] = [];
    for (let n = 0; n < 300; n++) {
      const result = await publish(server.url, token, { topic: "restart", data: `before ${n}` });
      assert.equal(result.status, 200);
      ids.push(result.body);
    }
    assert.equal(await server.stop("SIGTERM"), 0);
    server = await startServer({ env });
    for (let n = 0; n < 50; n++) {
      const result = await publish(server.url, token, { topic: "restart", data: `after ${n}` });
      ids.push(result.body);
    }
    const resume = await openEventStream(`${server.url}/.well-known/mercure?topic=restart`, {
      headers: { "last-event-id": ids[149] },
    });
    assert.equal(resume.response.headers.get("last-event-id"), ids[149]);
    const events = await resume.waitFor(200);
    assert.deepEqual(events.map((event) => event.lastEventId), ids.slice(150));
    // One log across the restart: positions carry on increasing.
    assertIncreasingPositions(ids, "ids across the restart");
    assert.equal(events[0].data, "before 150");
    assert.equal(events[199].data, "after 49");
    await resume.close();
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
