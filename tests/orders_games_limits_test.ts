import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { type RunningServer, startServer } from "./support/server.ts";
import { openEventStream } from "./support/sse_client.ts";

const OFF = { TIDINGS_DEMO_FEEDS: "off" };

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits until the current minute has `seconds` left at least, so a burst fits in one window. */
function oneWindowAhead(seconds: number): Promise<true> {
  return waitFor(
    "room in the current minute",
    () => Promise.resolve(60_000 - (Date.now() % 60_000) > seconds * 1000 ? true : undefined),
    70_000,
  );
}

function order(url: string, client?: Deno.HttpClient): Promise<Response> {
  return fetch(`${url}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ item: "tea" }),
    client,
  });
}

async function gauge(server: RunningServer, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const match = new RegExp(`^tidings_${name} (\\d+)$`, "m").exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * Reads a stopped server's KV file: every record under `[kind]` (the hub's records live under
 * `["rec", …]` in KV), with its expiry (-1 = none).
 */
function recordsIn(path: string, kind: string): Array<{ id: string; expiresAt: number }> {
  const encoder = new TextEncoder();
  const prefix = [2, ...encoder.encode("rec"), 0, 2, ...encoder.encode(kind), 0, 2];
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const rows = db.prepare("SELECT k, expiration_ms FROM kv").all() as Array<
      { k: Uint8Array; expiration_ms: number }
    >;
    return rows
      .filter((row) => prefix.every((byte, index) => row.k[index] === byte))
      .map((row) => ({
        id: new TextDecoder().decode(row.k.slice(prefix.length, row.k.indexOf(0, prefix.length))),
        expiresAt: row.expiration_ms,
      }));
  } finally {
    db.close();
  }
}

Deno.test("a burst of orders from one client gets 429 with Retry-After past its rate on two isolates, and another client is unaffected", async () => {
  const directory = await Deno.makeTempDir();
  const server = await startServer({
    parallel: 2,
    env: {
      ...OFF,
      TIDINGS_KV_PATH: `${directory}/tidings.kv`,
      TIDINGS_CREATE_RATE: "5",
      TIDINGS_MAX_LIVE_PER_CLIENT: "500",
    },
  });
  const other = Deno.createHttpClient({ localAddress: "127.0.0.2" });
  try {
    await oneWindowAhead(15);
    const responses = await Promise.all(Array.from({ length: 40 }, () => order(server.url)));
    const statuses = responses.map((response) => response.status);
    assert.equal(statuses.filter((status) => status === 201).length, 5, String(statuses));
    assert.equal(statuses.filter((status) => status === 429).length, 35, String(statuses));
    for (const response of responses) {
      const body = await response.text();
      if (response.status !== 429) continue;
      const retryAfter = Number(response.headers.get("retry-after"));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, body);
      assert.match(body, /^too many new orders from this client: try again in \d+ s\n$/);
    }
    const elsewhere = await order(server.url, other);
    assert.equal(elsewhere.status, 201, await elsewhere.text());
    const again = await order(server.url);
    assert.equal(again.status, 429);
    await again.body?.cancel();
  } finally {
    other.close();
    await server.close();
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("a client past its live orders gets 429 until one ends, and finished orders leave nothing live", async () => {
  const directory = await Deno.makeTempDir();
  const server = await startServer({
    parallel: 2,
    env: {
      ...OFF,
      TIDINGS_KV_PATH: `${directory}/tidings.kv`,
      TIDINGS_FEED_SPEED: "4",
      TIDINGS_CREATE_RATE: "1000",
      TIDINGS_MAX_LIVE_PER_CLIENT: "3",
    },
  });
  try {
    const responses = await Promise.all(Array.from({ length: 12 }, () => order(server.url)));
    const statuses = responses.map((response) => response.status);
    assert.equal(statuses.filter((status) => status === 201).length, 3, String(statuses));
    const refused = responses.filter((response) => response.status === 429);
    assert.equal(refused.length, 9, String(statuses));
    for (const response of refused) {
      assert.ok(Number(response.headers.get("retry-after")) >= 1);
      assert.equal(
        await response.text(),
        "too many live orders from this client: wait for one to end\n",
      );
    }
    const ids = await Promise.all(
      responses.filter((response) => response.status === 201).map(async (response) =>
        (await response.json()).id as string
      ),
    );
    // Once an order ends, its place is free again: the next order is accepted.
    const stream = await openEventStream(`${server.url}/feeds/orders/${ids[0]}`);
    await stream.ended;
    assert.equal(stream.events.at(-1)?.type, "order_complete");
    await waitFor("a free place after an order ended", async () => {
      const next = await order(server.url);
      await next.body?.cancel();
      return next.status === 201 ? true : undefined;
    });
    // Every workflow ends, and no isolate keeps one.
    await waitFor(
      "the new order counted live",
      async () => (await gauge(server, "orders_live") ?? 0) >= 1 || undefined,
    );
    await waitFor(
      "no live orders",
      async () => await gauge(server, "orders_live") === 0 || undefined,
    );
  } finally {
    await server.close();
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("past TIDINGS_MAX_LIVE_ORDERS an isolate refuses new orders with 503, and order records expire", async () => {
  const directory = await Deno.makeTempDir();
  const kvPath = `${directory}/tidings.kv`;
  const server = await startServer({
    env: {
      ...OFF,
      TIDINGS_KV_PATH: kvPath,
      TIDINGS_FEED_SPEED: "5",
      TIDINGS_MAX_LIVE_ORDERS: "2",
      TIDINGS_HISTORY_MAX_AGE_S: "3600",
    },
  });
  const accepted: string[] = [];
  try {
    const responses = await Promise.all(Array.from({ length: 6 }, () => order(server.url)));
    for (const response of responses) {
      if (response.status === 201) {
        accepted.push((await response.json()).id);
        continue;
      }
      assert.equal(response.status, 503);
      assert.equal(response.headers.get("retry-after"), "5");
      assert.equal(
        await response.text(),
        "too many live orders here (2); try again in a few seconds\n",
      );
    }
    assert.equal(accepted.length, 2);
    const state = await (await fetch(`${server.url}/orders/${accepted[0]}`)).json();
    assert.equal(state.createdBy, undefined, "who ordered stays private");
    const stream = await openEventStream(`${server.url}/feeds/orders/${accepted[0]}`);
    await stream.ended;
    await waitFor("a completed order record", async () => {
      const state = await (await fetch(`${server.url}/orders/${accepted[0]}`)).json();
      return state.status === "completed" || undefined;
    });
  } finally {
    await server.close();
  }
  const records = recordsIn(kvPath, "orders");
  assert.deepEqual(records.map((record) => record.id).sort(), accepted.sort());
  // Every record expires, the completed one included: about an hour (the history's age) away.
  for (const record of records) {
    assert.ok(record.expiresAt > Date.now() + 3_500_000, JSON.stringify(record));
    assert.ok(record.expiresAt < Date.now() + 3_700_000, JSON.stringify(record));
  }
  await Deno.remove(directory, { recursive: true });
});

Deno.test("refused game streams write no game record, new games have the per-client rate, and game records expire", async () => {
  const directory = await Deno.makeTempDir();
  const kvPath = `${directory}/tidings.kv`;
  const server = await startServer({
    env: {
      ...OFF,
      TIDINGS_KV_PATH: kvPath,
      TIDINGS_FEED_SPEED: "0.1",
      TIDINGS_CREATE_RATE: "3",
      TIDINGS_MAX_CONNECTIONS_PER_IP: "4",
    },
  });
  const other = Deno.createHttpClient({ localAddress: "127.0.0.2" });
  const streams = [];
  try {
    await oneWindowAhead(15);
    for (const id of ["g-0", "g-1", "g-2"]) {
      const stream = await openEventStream(`${server.url}/feeds/games/${id}`);
      assert.equal(stream.response.status, 200);
      await stream.waitFor(1);
      streams.push(stream);
    }
    // Past the rate: 429, and no record.
    for (const id of ["r-0", "r-1", "r-2"]) {
      const refused = await fetch(`${server.url}/feeds/games/${id}`);
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get("retry-after")) >= 1);
      assert.match(await refused.text(), /^too many new games from this client/);
    }
    // Watching a game already started is not creating one.
    const viewer = await openEventStream(`${server.url}/feeds/games/g-0`);
    assert.equal(viewer.response.status, 200);
    streams.push(viewer);
    // Past the connection limit (4 streams from this address): 503, and no record.
    for (const id of ["c-0", "c-1"]) {
      const refused = await fetch(`${server.url}/feeds/games/${id}`, { client: other });
      await refused.body?.cancel();
      assert.equal(refused.status, 200, "the other client has its own budget");
      const limited = await fetch(`${server.url}/feeds/games/x-${id}`);
      assert.equal(limited.status, 503);
      assert.match(await limited.text(), /^per-client connection limit reached/);
    }
    // Bad stream parameters: 400, and no record.
    const badThrottle = await fetch(`${server.url}/feeds/games/t-0?throttle=abc`, {
      client: other,
    });
    assert.equal(badThrottle.status, 400);
    await badThrottle.body?.cancel();
  } finally {
    for (const stream of streams) await stream.close();
    other.close();
    await server.close();
  }
  const records = recordsIn(kvPath, "games");
  assert.deepEqual(records.map((record) => record.id).sort(), ["c-0", "c-1", "g-0", "g-1", "g-2"]);
  for (const record of records) {
    assert.ok(record.expiresAt > Date.now(), `${record.id} never expires`);
  }
  await Deno.remove(directory, { recursive: true });
});
