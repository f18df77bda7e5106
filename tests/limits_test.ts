import assert from "node:assert/strict";
import { startServer } from "./support/server.ts";
import { type EventStreamHandle, openEventStream, publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { pinnedClients, readMetrics, waitUntil } from "./support/hub_probe.ts";

const OFF = { TIDINGS_DEMO_FEEDS: "off" };
const stream = (url: string) => `${url}/.well-known/mercure?topic=limits`;

/** Status, Retry-After, reason header and body of a refusal (the body is consumed). */
async function refusal(response: Response) {
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    reason: response.headers.get("x-tidings-refusal"),
    body: await response.text(),
  };
}

async function closeAll(streams: EventStreamHandle[], clients: Deno.HttpClient[] = []) {
  for (const handle of streams) await handle.close();
  for (const client of clients) client.close();
}

Deno.test("a full hub refuses the next stream with 503, Retry-After and a reason, and counts it", async () => {
  const server = await startServer({ env: { ...OFF, TIDINGS_MAX_CONNECTIONS: "5" } });
  const streams: EventStreamHandle[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const handle = await openEventStream(stream(server.url));
      streams.push(handle);
      assert.equal(handle.response.status, 200);
    }
    const refused = await refusal(await fetch(stream(server.url)));
    assert.deepEqual(refused, {
      status: 503,
      retryAfter: "5",
      reason: "connection limit reached (5)",
      body: "connection limit reached (5)\n",
    });
    const metrics = await readMetrics(server.url);
    assert.equal(metrics.get('tidings_refusals_total{reason="max_connections"}'), 1);
    assert.equal(metrics.get("tidings_open_connections"), 5);
    // A closed stream frees its slot.
    await streams.pop()!.close();
    await waitUntil("the slot to be released", async () => {
      const response = await fetch(stream(server.url));
      await response.body?.cancel();
      return response.status === 200;
    });
  } finally {
    await closeAll(streams);
    await server.close();
  }
});

Deno.test("the per-address limit refuses a third stream from one address but not another address", async () => {
  const server = await startServer({ env: { ...OFF, TIDINGS_MAX_CONNECTIONS_PER_IP: "2" } });
  const streams: EventStreamHandle[] = [];
  const other = Deno.createHttpClient({ localAddress: "127.0.0.2" });
  try {
    streams.push(await openEventStream(stream(server.url)));
    streams.push(await openEventStream(stream(server.url)));
    const refused = await refusal(await fetch(stream(server.url)));
    assert.deepEqual(refused, {
      status: 503,
      retryAfter: "5",
      reason: "per-client connection limit reached (2)",
      body: "per-client connection limit reached (2)\n",
    });
    const elsewhere = await openEventStream(stream(server.url), { client: other });
    streams.push(elsewhere);
    assert.equal(elsewhere.response.status, 200);
    const metrics = await readMetrics(server.url);
    assert.equal(metrics.get('tidings_refusals_total{reason="max_connections_per_ip"}'), 1);
    assert.equal(metrics.get('tidings_refusals_total{reason="max_connections"}'), undefined);
    assert.equal(metrics.get("tidings_open_connections"), 3);
  } finally {
    await closeAll(streams, [other]);
    await server.close();
  }
});

Deno.test("the connection limit holds across two isolates", async () => {
  const dir = await Deno.makeTempDir();
  const server = await startServer({
    parallel: 2,
    env: { ...OFF, TIDINGS_KV_PATH: `${dir}/hub.kv`, TIDINGS_MAX_CONNECTIONS: "5" },
  });
  const streams: EventStreamHandle[] = [];
  const clients: Deno.HttpClient[] = [];
  try {
    const token = await mercureToken({ publish: ["*"] });
    // 3 streams on one isolate, 2 on the other: neither isolate is full by its own count.
    const { clients: pinned } = await pinnedClients(server.url, token, [3, 2]);
    clients.push(...pinned.map(({ client }) => client));
    for (const { client } of pinned) {
      const handle = await openEventStream(stream(server.url), { client });
      streams.push(handle);
      assert.equal(handle.response.status, 200);
    }
    // The budget is a ledger shared through the store, exact at admission: no wait needed.
    // New connections to both isolates are refused.
    const { clients: probes } = await pinnedClients(server.url, token, [2, 2]);
    clients.push(...probes.map(({ client }) => client));
    const isolatesRefusing = new Set<string>();
    for (const { client, isolate } of probes) {
      const refused = await refusal(await fetch(stream(server.url), { client }));
      assert.equal(refused.status, 503, `isolate ${isolate} admitted a sixth stream`);
      assert.equal(refused.retryAfter, "5");
      assert.equal(refused.reason, "connection limit reached (5)");
      isolatesRefusing.add(isolate);
    }
    assert.equal(isolatesRefusing.size, 2);
    await waitUntil("refusals of both isolates in /metrics", async () => {
      const metrics = await readMetrics(server.url);
      return metrics.get('tidings_refusals_total{reason="max_connections"}') === 4 &&
        metrics.get("tidings_open_connections") === 5;
    });
  } finally {
    await closeAll(streams, clients);
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a publish body over TIDINGS_MAX_BODY_BYTES gets 413 with a reason, declared or streamed", async () => {
  const server = await startServer({ env: { ...OFF, TIDINGS_MAX_BODY_BYTES: "1024" } });
  try {
    const token = await mercureToken({ publish: ["*"] });
    const headers = {
      authorization: `Bearer ${token}`,
      "content-type": "application/x-www-form-urlencoded",
    };
    const body = (size: number) => {
      const prefix = "topic=big&data=";
      return prefix + "x".repeat(size - prefix.length);
    };
    const exact = await fetch(`${server.url}/.well-known/mercure`, {
      method: "POST",
      headers,
      body: body(1024),
    });
    assert.equal(exact.status, 200, "a body of exactly the limit is accepted");
    await exact.body?.cancel();
    const declared = await fetch(`${server.url}/.well-known/mercure`, {
      method: "POST",
      headers,
      body: body(1025),
    });
    assert.deepEqual(await refusal(declared), {
      status: 413,
      retryAfter: null,
      reason: "body larger than 1024 bytes",
      body: "body larger than 1024 bytes\n",
    });
    // Without Content-Length (chunked): refused while reading.
    const bytes = new TextEncoder().encode(body(5000));
    const streamed = await fetch(`${server.url}/.well-known/mercure`, {
      method: "POST",
      headers,
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 500) controller.enqueue(bytes.slice(i, i + 500));
          controller.close();
        },
      }),
    });
    assert.equal(streamed.status, 413);
    assert.equal(await streamed.text(), "body larger than 1024 bytes\n");
  } finally {
    await server.close();
  }
});

Deno.test("TIDINGS_PUBLISH_RATE refuses the publish past the rate with 429 and Retry-After", async () => {
  const server = await startServer({ env: { ...OFF, TIDINGS_PUBLISH_RATE: "3" } });
  try {
    const token = await mercureToken({ publish: ["*"] }, { sub: "alice" });
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await publish(server.url, token, { topic: "rate", data: `${i}` })).status);
    }
    assert.deepEqual(statuses, [200, 200, 200]);
    const limited = await publish(server.url, token, { topic: "rate", data: "3" });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "1");
    assert.equal(limited.headers.get("x-tidings-refusal"), "publish rate limit exceeded");
    assert.equal(limited.body, "publish rate limit exceeded\n");
    // Another publisher has its own budget.
    const bob = await mercureToken({ publish: ["*"] }, { sub: "bob" });
    assert.equal((await publish(server.url, bob, { topic: "rate", data: "b" })).status, 200);
    // When a token is free again is the limiter's clock: see the test below.
    const metrics = await readMetrics(server.url);
    assert.equal(metrics.get('tidings_refusals_total{reason="429"}'), 1);
  } finally {
    await server.close();
  }
});

Deno.test("the publish rate holds exactly across isolates sharing the store: a burst in one second admits exactly the rate", async () => {
  const { PublishRateLimit } = await import("../lib/app/rate_limit.ts");
  const { KvTransport } = await import("../lib/kv/kv_transport.ts");
  const transport = new KvTransport(await Deno.openKv(":memory:"));
  try {
    let now = 7_000_100;
    const clock = () => now;
    const isolates = [0, 1, 2].map(() => new PublishRateLimit(transport.records, 5, clock));
    const burst = await Promise.all(
      Array.from({ length: 40 }, (_, i) => isolates[i % 3].take("publisher-1")),
    );
    assert.equal(burst.filter((wait) => wait === 0).length, 5);
    assert.ok(burst.filter((wait) => wait > 0).every((wait) => wait === 900), String(burst));
    // The next second starts afresh.
    now += 1000;
    const next = await Promise.all(isolates.map((isolate) => isolate.take("publisher-1")));
    assert.deepEqual(next, [0, 0, 0]);
  } finally {
    transport.close();
  }
});
