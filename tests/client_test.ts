/**
 * The client library (`client/tidings_client.js`) against the real server: typed events, states,
 * resume across a restart, final refusals, backoff, token refresh, WebSocket and the automatic
 * fallback through a proxy that breaks streaming.
 */

import assert from "node:assert/strict";
import {
  reconnectDelay,
  subscribe,
  type Subscription,
  SubscriptionError,
  type TidingsEvent,
  tokenRefreshTime,
} from "../client/tidings_client.js";
import { type RunningServer, startServer } from "./support/server.ts";
import { publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

const HUB = "/.well-known/mercure";
const QUIET = { TIDINGS_DEMO_FEEDS: "off", TIDINGS_RETRY_MS: "100" };
const FAST = { minDelayMs: 20, maxDelayMs: 200 };

const publisherToken = await mercureToken({ publish: ["*"] });
const subscriberToken = await mercureToken({ subscribe: ["*"] });

/** Polls `condition` every 20 ms; throws naming `what` after `timeoutMs`. */
async function waitUntil(what: string, condition: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Publishes a fence on `topic` and waits until it arrives: a wrong duplicate or a late event of
 * what came before would arrive before it. Returns the fence's id.
 */
async function fence(
  server: { url: string },
  topic: string,
  seen: { events: TidingsEvent[] },
): Promise<string> {
  const [id] = await publishData(server, topic, ["fence"]);
  await waitUntil("the fence", () => seen.events.some((event) => event.id === id));
  return id;
}

/** Everything a subscription reports: events (by iteration), states, resets and errors. */
function record(subscription: Subscription) {
  const seen = {
    events: [] as TidingsEvent[],
    states: [subscription.state] as string[],
    resets: [] as unknown[],
    errors: [] as SubscriptionError[],
    /** Settles when the iteration ends: the error it threw, or undefined. */
    iteration: Promise.resolve<unknown>(undefined),
  };
  subscription.addEventListener("statechange", () => seen.states.push(subscription.state));
  subscription.addEventListener(
    "reset",
    (event) => seen.resets.push((event as CustomEvent).detail),
  );
  subscription.addEventListener(
    "error",
    (event) => seen.errors.push((event as CustomEvent).detail),
  );
  seen.iteration = (async () => {
    try {
      for await (const event of subscription) seen.events.push(event);
    } catch (error) {
      return error;
    }
  })();
  return seen;
}

async function publishData(
  server: { url: string },
  topic: string,
  items: string[],
  extra: Record<string, string> = {},
): Promise<string[]> {
  const ids: string[] = [];
  for (const data of items) {
    const result = await publish(server.url, publisherToken, { topic, data, ...extra });
    assert.equal(result.status, 200, result.body);
    ids.push(result.body.trim());
  }
  return ids;
}

const idsOf = (events: TidingsEvent[]) => events.map((event) => event.id);

Deno.test("reconnectDelay draws full jitter below min(max, base times 2 to the attempt)", () => {
  const base = { baseMs: 500, maxMs: 30_000 };
  assert.equal(reconnectDelay({ ...base, attempt: 0, random: () => 0 }), 0);
  assert.equal(reconnectDelay({ ...base, attempt: 0, random: () => 0.5 }), 250);
  assert.equal(reconnectDelay({ ...base, attempt: 3, random: () => 0.5 }), 2_000);
  assert.equal(reconnectDelay({ ...base, attempt: 20, random: () => 0.5 }), 15_000);
  assert.equal(
    reconnectDelay({ baseMs: 3_000, maxMs: 30_000, attempt: 1, random: () => 1 }),
    6_000,
  );
  const draws = new Set<number>();
  for (let i = 0; i < 50; i++) draws.add(reconnectDelay({ ...base, attempt: 2 }));
  assert.ok(draws.size > 40, "Math.random gives different delays");
  for (const delay of draws) assert.ok(delay >= 0 && delay < 2_000);
});

Deno.test("reconnectDelay waits out Retry-After plus a jitter of at most the base", () => {
  const options = { attempt: 5, baseMs: 500, maxMs: 30_000, retryAfterMs: 5_000 };
  assert.equal(reconnectDelay({ ...options, random: () => 0 }), 5_000);
  assert.equal(reconnectDelay({ ...options, random: () => 0.5 }), 5_250);
  assert.equal(reconnectDelay({ ...options, retryAfterMs: 86_400_000, random: () => 0 }), 300_000);
});

Deno.test("tokenRefreshTime is 10% of the remaining life before exp, at most 30 s early", async () => {
  const token = await mercureToken({ subscribe: ["*"] }, { exp: 2_000 });
  assert.equal(tokenRefreshTime(token, 1_900_000), 1_990_000);
  assert.equal(tokenRefreshTime(token, 0), 1_970_000);
  assert.equal(tokenRefreshTime(subscriberToken), undefined);
  assert.equal(tokenRefreshTime("not a jwt"), undefined);
});

Deno.test("subscription yields typed events by iteration and to listeners per type", async () => {
  const server = await startServer({ env: QUIET });
  const subscription = subscribe(`${server.url}${HUB}`, {
    topics: ["https://example.com/books/{id}"],
    token: subscriberToken,
  });
  const seen = record(subscription);
  const messages: TidingsEvent[] = [];
  const prices: TidingsEvent[] = [];
  const stopMessages = subscription.on("message", (event) => messages.push(event));
  subscription.on("price", (event) => prices.push(event));
  try {
    await waitUntil("open", () => subscription.state === "open");
    assert.equal(subscription.transport, "sse");
    const [plain] = await publishData(server, "https://example.com/books/1", ["plain text"]);
    const [priced] = await publishData(server, "https://example.com/books/2", ['{"eur":12}'], {
      type: "price",
    });
    await publishData(server, "https://example.com/other", ["not matching"]);
    await waitUntil("two events", () => seen.events.length === 2);
    stopMessages();
    const [late] = await publishData(server, "https://example.com/books/3", ["late"]);
    await waitUntil("three events", () => seen.events.length === 3);

    assert.deepEqual(
      seen.events.map(({ id, type, data, topic }) => ({ id, type, data, topic })),
      [
        { id: plain, type: "message", data: "plain text", topic: undefined },
        { id: priced, type: "price", data: '{"eur":12}', topic: undefined },
        { id: late, type: "message", data: "late", topic: undefined },
      ],
    );
    assert.deepEqual(seen.events[1].json<{ eur: number }>(), { eur: 12 });
    assert.deepEqual(idsOf(messages), [plain], "the removed listener missed the late event");
    assert.deepEqual(idsOf(prices), [priced]);
    assert.equal(subscription.lastEventId, late);
  } finally {
    await subscription.close();
    await server.close();
  }
  assert.equal(await seen.iteration, undefined, "closing ends the iteration without an error");
  assert.deepEqual(seen.states, ["connecting", "open", "closed"]);
});

Deno.test("switching topics moves to one new stream resuming after the last event: none lost or repeated", async () => {
  const server = await startServer({ env: QUIET });
  const requests: { url: string; lastEventId: string | null }[] = [];
  let open = 0;
  let mostOpen = 0;
  const countingFetch: typeof fetch = (input, init) => {
    requests.push({
      url: String(input),
      lastEventId: new Headers(init?.headers).get("last-event-id"),
    });
    mostOpen = Math.max(mostOpen, ++open);
    init?.signal?.addEventListener("abort", () => open--, { once: true });
    return fetch(input, init);
  };
  const subscription = subscribe(`${server.url}${HUB}`, {
    topics: ["left"],
    token: subscriberToken,
    fetch: countingFetch,
    ...FAST,
  });
  const seen = record(subscription);
  const published: { topic: string; id: string }[] = [];
  const publishSome = async (count: number) => {
    for (let index = 0; index < count; index++) {
      const topic = published.length % 2 === 0 ? "left" : "right";
      const [id] = await publishData(server, topic, [`${topic}-${published.length}`]);
      published.push({ topic, id });
    }
  };
  try {
    await waitUntil("open", () => subscription.state === "open");
    await publishSome(6);
    await waitUntil("a first event", () => seen.events.length >= 1);
    await publishSome(10); // still arriving while the switch happens
    const switched = subscription.switchTopics(["left", "right"]);
    const resumePoint = subscription.lastEventId;
    await publishSome(20);
    await switched;
    const [last] = await publishData(server, "left", ["the end"]);
    published.push({ topic: "left", id: last });
    await waitUntil("the last event", () => subscription.lastEventId === last);

    assert.ok(resumePoint !== undefined);
    const resumeIndex = published.findIndex((event) => event.id === resumePoint);
    assert.ok(resumeIndex >= 0, "the resume point is an event the subscription received");
    const expected = published
      .filter((event, index) => event.topic === "left" || index > resumeIndex)
      .map((event) => event.id);
    assert.deepEqual(idsOf(seen.events), expected);
    assert.deepEqual(requests.map((request) => request.lastEventId), [null, resumePoint]);
    assert.deepEqual(
      requests.map((request) => new URL(request.url).searchParams.getAll("topic")),
      [["left"], ["left", "right"]],
    );
    assert.equal(mostOpen, 1, "never two connections at once");
    assert.deepEqual(subscription.topics, ["left", "right"]);
    assert.deepEqual(seen.states, ["connecting", "open"], "a switch is no reconnection");
  } finally {
    await subscription.close();
    await server.close();
  }
});

Deno.test("over WebSocket too, a switch resumes after the last event and carries the new topics", async () => {
  const server = await startServer({ env: QUIET });
  const subscription = subscribe(`${server.url}${HUB}`, {
    topics: ["left"],
    transport: "websocket",
    token: subscriberToken,
    ...FAST,
  });
  const seen = record(subscription);
  try {
    await waitUntil("open", () => subscription.state === "open");
    const [first] = await publishData(server, "left", ["one"]);
    const [earlier] = await publishData(server, "right", ["before the switch"]);
    await waitUntil("the first event", () => subscription.lastEventId === first);
    await subscription.switchTopics(["left", "right"]);
    const [second] = await publishData(server, "right", ["two"]);
    const [third] = await publishData(server, "left", ["three"]);
    await waitUntil("the third event", () => subscription.lastEventId === third);
    assert.deepEqual(
      seen.events.map(({ id, topic }) => ({ id, topic })),
      [
        { id: first, topic: "left" },
        { id: earlier, topic: "right" }, // after the resume point: the new stream replays it
        { id: second, topic: "right" },
        { id: third, topic: "left" },
      ],
    );
    assert.equal(subscription.transport, "websocket");
    assert.deepEqual(seen.states, ["connecting", "open"]);
  } finally {
    await subscription.close();
    await server.close();
  }
});

Deno.test("a switch made while connecting opens on the new topics; the same set is no switch", async () => {
  const server = await startServer({ env: QUIET });
  const urls: string[] = [];
  const subscription = subscribe(`${server.url}${HUB}`, {
    topics: ["first"],
    token: subscriberToken,
    fetch: (input, init) => {
      urls.push(String(input));
      return fetch(input, init);
    },
    ...FAST,
  });
  try {
    await subscription.switchTopics(["second"]);
    assert.equal(subscription.state, "open");
    await subscription.switchTopics(["second"]);
    const [id] = await publishData(server, "second", ["hello"]);
    await waitUntil("the event", () => subscription.lastEventId === id);
    const topics = urls.map((url) => new URL(url).searchParams.getAll("topic"));
    assert.deepEqual(topics.at(-1), ["second"]);
    assert.ok(topics.length <= 2, `connections asked for ${JSON.stringify(topics)}`);
  } finally {
    await subscription.close();
    await server.close();
  }
});

Deno.test("aborting the signal closes the subscription and ends its iteration", async () => {
  const server = await startServer({ env: QUIET });
  const controller = new AbortController();
  const subscription = subscribe(`${server.url}${HUB}`, {
    topics: ["*"],
    signal: controller.signal,
  });
  const seen = record(subscription);
  try {
    await waitUntil("open", () => subscription.state === "open");
    controller.abort();
    await subscription.closed;
    assert.equal(subscription.state, "closed");
    assert.equal(subscription.error, undefined);
    assert.equal(await seen.iteration, undefined);
    assert.deepEqual(seen.states, ["connecting", "open", "closed"]);
  } finally {
    await subscription.close();
    await server.close();
  }
});

Deno.test("a restart on the same port loses and repeats no event (resumed by Last-Event-ID)", async () => {
  const directory = await Deno.makeTempDir({ prefix: "tidings-client-" });
  const env = { ...QUIET, TIDINGS_KV_PATH: `${directory}/tidings.kv` };
  let server: RunningServer = await startServer({ env });
  const port = server.port;
  const requested: (string | null)[] = [];
  let gate: Promise<void> | undefined;
  let openGate = () => {};
  const gatedFetch: typeof fetch = async (input, init) => {
    requested.push(new Headers(init?.headers).get("last-event-id"));
    await gate;
    return fetch(input, init);
  };
  const subscription = subscribe(`${server.url}${HUB}`, {
    topics: ["restart-topic"],
    transport: "sse",
    fetch: gatedFetch,
    ...FAST,
  });
  const seen = record(subscription);
  try {
    await waitUntil("open", () => subscription.state === "open");
    const before = await publishData(server, "restart-topic", ["1", "2", "3"]);
    await waitUntil("three events", () => seen.events.length === 3);
    gate = new Promise((resolve) => openGate = resolve);
    await server.stop();
    await waitUntil("a reconnection attempt", () => requested.length === 2);
    server = await startServer({ port, env });
    const after = await publishData(server, "restart-topic", ["4", "5", "6"]);
    openGate();
    await waitUntil("six events", () => seen.events.length === 6);
    const last = await fence(server, "restart-topic", seen);
    assert.deepEqual(idsOf(seen.events), [...before, ...after, last]);
    assert.deepEqual(seen.events.map((event) => event.data), [
      "1",
      "2",
      "3",
      "4",
      "5",
      "6",
      "fence",
    ]);
    assert.deepEqual(requested.slice(0, 2), [null, before[2]]);
    assert.deepEqual(seen.resets, []);
    assert.equal(seen.states.filter((state) => state === "reconnecting").length, 1);
    assert.equal(subscription.state, "open");
  } finally {
    openGate();
    await subscription.close();
    await server.close();
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("a finished order feed answers the reconnection with 204 and the subscription closes", async () => {
  const server = await startServer({ env: QUIET });
  try {
    const response = await fetch(`${server.url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ item: "book" }),
    });
    assert.equal(response.status, 201);
    const order = await response.json();
    const requested: (string | null)[] = [];
    const subscription = subscribe(`${server.url}${order.stream}`, {
      topics: [],
      ...FAST,
      fetch: (input, init) => {
        requested.push(new Headers(init?.headers).get("last-event-id"));
        return fetch(input, init);
      },
    });
    const seen = record(subscription);
    const timer = setTimeout(() => subscription.close(), 20_000);
    await subscription.closed;
    clearTimeout(timer);
    assert.equal(await seen.iteration, undefined);
    assert.equal(subscription.error, undefined, "204 is an end, not an error");
    assert.equal(seen.events.at(-1)?.type, "order_complete");
    assert.deepEqual(requested, [null, seen.events.at(-1)?.id]);
    assert.deepEqual(seen.states, ["connecting", "open", "reconnecting", "closed"]);
  } finally {
    await server.close();
  }
});

Deno.test("a bad token stops the subscription for good with status and reason (SSE)", async () => {
  const server = await startServer({ env: QUIET });
  const badToken = await mercureToken({ subscribe: ["*"] }, {}, "not-the-server-secret");
  let calls = 0;
  const subscription = subscribe(`${server.url}${HUB}`, {
    topics: ["*"],
    token: () => (calls++, Promise.resolve(badToken)),
    ...FAST,
  });
  const seen = record(subscription);
  try {
    await subscription.closed;
    const thrown = await seen.iteration;
    assert.ok(thrown instanceof SubscriptionError);
    assert.equal(thrown, subscription.error);
    assert.equal(subscription.error?.status, 401);
    assert.match(subscription.error?.message ?? "", /^the hub answered 401: invalid token/);
    assert.equal(calls, 2, "a 401 fetches one fresh token before giving up");
    assert.deepEqual(seen.states, ["connecting", "closed"]);
  } finally {
    await subscription.close();
    await server.close();
  }
});

Deno.test("a 404 stops the subscription for good", async () => {
  const server = await startServer({ env: QUIET });
  const subscription = subscribe(`${server.url}/feeds/no-such-feed`, { topics: [], ...FAST });
  try {
    await subscription.closed;
    assert.equal(subscription.error?.status, 404);
    assert.match(subscription.error?.reason ?? "", /unknown feed/);
  } finally {
    await server.close();
  }
});

Deno.test("the hub's retry is the backoff base and the reconnection sends Last-Event-ID", async () => {
  const requests: (string | null)[] = [];
  const stub = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    requests.push(request.headers.get("last-event-id"));
    const body = requests.length === 1 ? "retry: 0\nid: e-1\ndata: one\n\n" : "";
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  // Without the hub's `retry: 0`, the first wait would be random(0, 1 hour).
  const subscription = subscribe(`http://127.0.0.1:${stub.addr.port}/events`, {
    topics: ["t"],
    transport: "sse",
    minDelayMs: 3_600_000,
    maxDelayMs: 3_600_000,
  });
  try {
    await waitUntil("a reconnection", () => requests.length >= 2, 5_000);
    assert.deepEqual(requests.slice(0, 2), [null, "e-1"]);
  } finally {
    await subscription.close();
    await stub.shutdown();
  }
});

Deno.test("5xx answers are retried, and a 503's Retry-After is waited out", async () => {
  let requests = 0;
  const stub = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    requests++;
    if (new URL(request.url).pathname === "/busy") {
      return new Response("connection limit reached\n", {
        status: 503,
        headers: { "retry-after": "3600" },
      });
    }
    if (requests <= 2) return new Response("oops\n", { status: 500 });
    if (requests > 3) return new Response(null, { status: 204 });
    return new Response("id: 1\ndata: through\n\n", {
      headers: { "content-type": "text/event-stream" },
    });
  });
  const base = `http://127.0.0.1:${stub.addr.port}`;
  const noWait = { topics: ["t"], transport: "sse", minDelayMs: 0, maxDelayMs: 0 } as const;
  const flaky = subscribe(`${base}/flaky`, noWait);
  const seen = record(flaky);
  try {
    await flaky.closed; // by the 204 after the event
    assert.deepEqual(seen.events.map((event) => event.data), ["through"]);
    assert.deepEqual(seen.errors.slice(0, 2).map((error) => error.status), [500, 500]);
    assert.equal(requests, 4);

    requests = 0;
    const busy = subscribe(`${base}/busy`, noWait);
    const busySeen = record(busy);
    await waitUntil("the 503", () => busySeen.errors.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 500)); // a zero backoff would retry at once
    assert.equal(requests, 1);
    assert.equal(busy.state, "reconnecting");
    assert.equal(busySeen.errors[0].status, 503);
    assert.equal(busySeen.errors[0].reason, "connection limit reached");
    await busy.close();
  } finally {
    await flaky.close();
    await stub.shutdown();
  }
});

Deno.test("a token function is called again before exp and no event is lost or repeated", async () => {
  const server = await startServer({ env: QUIET });
  let calls = 0;
  const token = () => {
    calls++;
    return mercureToken({ subscribe: ["*"] }, { exp: Math.floor(Date.now() / 1000) + 3 });
  };
  const subscription = subscribe(`${server.url}${HUB}`, { topics: ["secret"], token, ...FAST });
  const seen = record(subscription);
  try {
    await waitUntil("open", () => subscription.state === "open");
    const data = Array.from({ length: 16 }, (_, index) => `n${index}`);
    const ids: string[] = [];
    for (const item of data) {
      ids.push(...await publishData(server, "secret", [item], { private: "on" }));
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await waitUntil("every event", () => seen.events.length >= data.length);
    const last = await fence(server, "secret", seen);
    assert.deepEqual(idsOf(seen.events), [...ids, last]);
    assert.ok(calls >= 2, `token function called ${calls} times`);
    assert.ok(!seen.states.includes("reconnecting"), `seamless: ${seen.states.join(" → ")}`);
  } finally {
    await subscription.close();
    await server.close();
  }
});

Deno.test("the WebSocket transport resumes after lastEventId and carries topics", async () => {
  const server = await startServer({ env: QUIET });
  const [first, second] = await publishData(server, "ws-topic", ["a", "b"]);
  const subscription = subscribe(`${server.url}${HUB}`, {
    topics: ["ws-topic"],
    transport: "websocket",
    token: subscriberToken,
    lastEventId: first,
  });
  const seen = record(subscription);
  try {
    await waitUntil("the replayed event", () => seen.events.length === 1);
    assert.equal(subscription.transport, "websocket");
    const [third] = await publishData(server, "ws-topic", ['{"n":3}'], { type: "count" });
    await waitUntil("the live event", () => seen.events.length === 2);
    assert.deepEqual(
      seen.events.map(({ id, type, data, topic }) => ({ id, type, data, topic })),
      [
        { id: second, type: "message", data: "b", topic: "ws-topic" },
        { id: third, type: "count", data: '{"n":3}', topic: "ws-topic" },
      ],
    );
    assert.deepEqual(seen.events[1].json(), { n: 3 });
    assert.deepEqual(seen.resets, [], "the resumed control frame is no event and no reset");
  } finally {
    await subscription.close();
    await server.close();
  }
});

for (const transport of ["sse", "websocket"] as const) {
  Deno.test(`${transport}: resuming from an id the hub lost emits reset and replays history`, async () => {
    const server = await startServer({ env: QUIET });
    const [kept] = await publishData(server, "reset-topic", ["kept"]);
    const lost = "urn:uuid:00000000-0000-4000-8000-000000000000";
    const subscription = subscribe(`${server.url}${HUB}`, {
      topics: ["reset-topic"],
      transport,
      lastEventId: lost,
    });
    const seen = record(subscription);
    try {
      await waitUntil("the replay", () => seen.events.length === 1);
      assert.deepEqual(seen.resets, [{ requested: lost }]);
      assert.deepEqual(idsOf(seen.events), [kept]);
    } finally {
      await subscription.close();
      await server.close();
    }
  });
}

Deno.test("the WebSocket transport stops for good on a bad token", async () => {
  const server = await startServer({ env: QUIET });
  const badToken = await mercureToken({ subscribe: ["*"] }, {}, "not-the-server-secret");
  const subscription = subscribe(`${server.url}${HUB}`, {
    topics: ["*"],
    transport: "websocket",
    token: badToken,
    ...FAST,
  });
  try {
    await subscription.closed;
    assert.equal(subscription.error?.status, 401);
  } finally {
    await server.close();
  }
});

/** A proxy in front of the hub that breaks event streams but passes WebSockets. */
function startBreakingProxy(target: string) {
  const mode = { sse: "html" as "html" | "silent" | "pass" };
  const sseRequests: (string | null)[] = [];
  const sseTimes: number[] = [];
  const sockets = new Set<Promise<void>>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const upstreamUrl = `${target}${url.pathname}${url.search}`;
    if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
      const { socket, response } = Deno.upgradeWebSocket(request);
      sockets.add(pipeWebSocket(socket, upstreamUrl.replace(/^http/, "ws")));
      return response;
    }
    sseRequests.push(request.headers.get("last-event-id"));
    sseTimes.push(Date.now());
    if (mode.sse === "html") {
      return new Response("<html>buffering proxy</html>", {
        headers: { "content-type": "text/html" },
      });
    }
    if (mode.sse === "silent") {
      return new Response(new ReadableStream(), {
        headers: { "content-type": "text/event-stream" },
      });
    }
    const headers = new Headers();
    for (const name of ["authorization", "last-event-id", "accept"]) {
      const value = request.headers.get(name);
      if (value !== null) headers.set(name, value);
    }
    const upstream = await fetch(upstreamUrl, { headers, signal: request.signal });
    const relayed = new Headers(upstream.headers);
    relayed.delete("content-encoding"); // fetch already decompressed the body
    relayed.delete("content-length");
    return new Response(upstream.body, { status: upstream.status, headers: relayed });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    mode,
    sseRequests,
    sseTimes,
    async close() {
      await Promise.all(sockets);
      await server.shutdown();
    },
  };
}

/** Relays frames both ways; resolves when both sockets are closed. */
function pipeWebSocket(downstream: WebSocket, upstreamUrl: string): Promise<void> {
  return new Promise((resolve) => {
    let upstream: WebSocket | undefined;
    let open = 2;
    const closed = () => --open === 0 && resolve();
    downstream.onopen = () => {
      upstream = new WebSocket(upstreamUrl);
      upstream.onmessage = (message) => downstream.send(message.data);
      upstream.onclose = (event) => {
        closed();
        if (downstream.readyState === WebSocket.OPEN) {
          downstream.close(event.code >= 3000 || event.code === 1000 ? event.code : 1000);
        }
      };
    };
    downstream.onclose = () => {
      closed();
      if (!upstream) closed();
      else if (upstream.readyState <= WebSocket.OPEN) upstream.close();
    };
  });
}

Deno.test("auto falls back to WebSocket when a proxy answers SSE with HTML, then returns to SSE", async () => {
  const server = await startServer({ env: QUIET });
  const proxy = startBreakingProxy(server.url);
  const fallbackMs = 500;
  const subscription = subscribe(`${proxy.url}${HUB}`, {
    topics: ["fallback"],
    // From the start of the topic: an event published while a try of SSE is switching transports
    // before the client has any id to resume from is replayed, not lost.
    lastEventId: "earliest",
    ...FAST,
    fallbackMs,
  });
  const seen = record(subscription);
  try {
    await waitUntil("open on WebSocket", () => subscription.state === "open");
    assert.equal(subscription.transport, "websocket");
    assert.equal(proxy.sseRequests.length, 2, "two consecutive proxy-like failures");
    const first = await publishData(server, "fallback", ["1", "2"]);
    await waitUntil("two events", () => seen.events.length === 2);
    assert.equal(seen.events[0].topic, "fallback", "WebSocket frames carry the topic");

    // SSE is tried again after fallbackMs; still broken, so back to WebSocket, and the next try
    // waits twice as long.
    await waitUntil("a first try of SSE", () => proxy.sseRequests.length === 3);
    await waitUntil("a second try of SSE", () => proxy.sseRequests.length === 4);
    const [, , third, fourth] = proxy.sseTimes;
    assert.ok(fourth - third >= 2 * fallbackMs - 50, `tries ${fourth - third} ms apart`);
    await waitUntil("back on WebSocket", () => subscription.transport === "websocket");
    const second = await publishData(server, "fallback", ["3"]);
    await waitUntil("three events", () => seen.events.length === 3);

    proxy.mode.sse = "pass";
    await waitUntil("back on SSE", () => subscription.transport === "sse", 10_000);
    const late = await publishData(server, "fallback", ["4", "5"]);
    await waitUntil("five events", () => seen.events.length === 5);
    const last = await fence(server, "fallback", seen);
    assert.deepEqual(idsOf(seen.events), [...first, ...second, ...late, last]);
    assert.equal(proxy.sseRequests.at(-1), second[0], "SSE resumed after the last WebSocket event");
    const afterFirstOpen = seen.states.slice(seen.states.indexOf("open"));
    assert.deepEqual(afterFirstOpen, ["open"], "the tries of SSE did not interrupt the stream");
  } finally {
    await subscription.close();
    await proxy.close();
    await server.close();
  }
});

Deno.test("auto falls back to WebSocket when an event stream stays silent for two heartbeats", async () => {
  const server = await startServer({ env: QUIET });
  const proxy = startBreakingProxy(server.url);
  proxy.mode.sse = "silent";
  const subscription = subscribe(`${proxy.url}${HUB}`, {
    topics: ["silent"],
    heartbeatMs: 150,
    ...FAST,
  });
  const seen = record(subscription);
  try {
    await waitUntil("on WebSocket", () => subscription.transport === "websocket");
    await waitUntil("open", () => subscription.state === "open");
    const ids = await publishData(server, "silent", ["x"]);
    await waitUntil("the event", () => seen.events.length === 1);
    assert.deepEqual(idsOf(seen.events), ids);
    assert.equal(proxy.sseRequests.length, 1, "one silent stream is evidence enough");
    assert.match(seen.errors[0]?.message ?? "", /no byte within 300 ms/);
  } finally {
    await subscription.close();
    await proxy.close();
    await server.close();
  }
});
