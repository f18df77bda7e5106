import assert from "node:assert/strict";
import { startServer } from "./support/server.ts";
import { type EventStreamHandle, openEventStream } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { type PinnedClient, pinnedClients, readMetrics, waitUntil } from "./support/hub_probe.ts";

const OFF = { TIDINGS_DEMO_FEEDS: "off" };
const stream = (url: string) => `${url}/.well-known/mercure?topic=limits`;

interface Limit {
  /** The setting under test and its value. */
  env: Record<string, string>;
  limit: number;
  /** The refusal's reason header. */
  reason: string;
}

const GLOBAL: Limit = {
  env: { TIDINGS_MAX_CONNECTIONS: "20" },
  limit: 20,
  reason: "connection limit reached (20)",
};
const PER_IP: Limit = {
  env: { TIDINGS_MAX_CONNECTIONS_PER_IP: "16" },
  limit: 16,
  reason: "per-client connection limit reached (16)",
};

interface Opened {
  pinned: PinnedClient;
  handle: EventStreamHandle;
}

/** Opens a stream on every client at once; splits the outcomes into admitted and refused. */
async function burst(url: string, clients: PinnedClient[]) {
  const opened: Opened[] = await Promise.all(clients.map(async (pinned) => ({
    pinned,
    handle: await openEventStream(stream(url), { client: pinned.client }),
  })));
  const admitted = opened.filter(({ handle }) => handle.response.status === 200);
  const refused = opened.filter(({ handle }) => handle.response.status !== 200);
  const refusals = await Promise.all(refused.map(async ({ handle }) => {
    await handle.ended;
    const { status, headers } = handle.response;
    return {
      status,
      retryAfter: headers.get("retry-after"),
      reason: headers.get("x-tidings-refusal"),
    };
  }));
  return { admitted, refused: refused.map(({ pinned }) => pinned), refusals };
}

/** `count` of `clients`, taken in turn from each isolate, so every isolate gets its part. */
function spread(clients: PinnedClient[], count: number): PinnedClient[] {
  const lists = [...Map.groupBy(clients, ({ isolate }) => isolate).values()];
  const picked: PinnedClient[] = [];
  for (let index = 0; picked.length < Math.min(count, clients.length); index++) {
    const next = lists[index % lists.length].shift();
    if (next) picked.push(next);
  }
  return picked;
}

async function openConnections(url: string): Promise<number | undefined> {
  return (await readMetrics(url)).get("tidings_open_connections");
}

/**
 * Bursts 2× the limit against `isolates` (every isolate its share of the burst): exactly the limit
 * is admitted and stays open, every other client gets 503 with Retry-After and the reason; after
 * half the streams close, a new burst gets exactly their slots back.
 */
async function burstOfTwiceTheLimit(isolates: number, { env, limit, reason }: Limit) {
  const dir = await Deno.makeTempDir();
  const server = await startServer({
    parallel: isolates,
    env: { ...OFF, TIDINGS_KV_PATH: `${dir}/hub.kv`, ...env },
  });
  const open: Opened[] = [];
  const clients: PinnedClient[] = [];
  try {
    const token = await mercureToken({ publish: ["*"] });
    const perIsolate = Array.from({ length: isolates }, () => (2 * limit) / isolates);
    clients.push(...(await pinnedClients(server.url, token, perIsolate)).clients);

    const first = await burst(server.url, clients);
    open.push(...first.admitted);
    assert.equal(first.admitted.length, limit, `admitted of ${2 * limit} on ${isolates} isolates`);
    assert.deepEqual(
      first.refusals,
      first.refused.map(() => ({ status: 503, retryAfter: "5", reason })),
    );
    await waitUntil(
      `${limit} open connections`,
      async () => await openConnections(server.url) === limit,
    );
    // The admitted streams are live: none has ended.
    const ended = await Promise.race([
      Promise.any(open.map(({ handle }) => handle.ended.then(() => true))),
      new Promise((resolve) => setTimeout(() => resolve(false), 300)),
    ]);
    assert.equal(ended, false, "an admitted stream ended");

    // Closed streams give their slots back, whichever isolate held them.
    const closing = limit / 2;
    const closed = open.splice(0, closing);
    for (const { handle } of closed) await handle.close();
    await waitUntil(
      `${limit - closing} open connections`,
      async () => await openConnections(server.url) === limit - closing,
    );
    const idle = [...first.refused, ...closed.map(({ pinned }) => pinned)];
    const again = await burst(server.url, spread(idle, 2 * closing));
    open.push(...again.admitted);
    assert.equal(again.admitted.length, closing, "admitted after some closed");
    assert.deepEqual(
      again.refusals,
      again.refused.map(() => ({ status: 503, retryAfter: "5", reason })),
    );
    await waitUntil(
      `${limit} open connections again`,
      async () => await openConnections(server.url) === limit,
    );
  } finally {
    for (const { handle } of open) await handle.close();
    for (const { client } of clients) client.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a burst of twice TIDINGS_MAX_CONNECTIONS against 2 isolates admits exactly the limit", async () => {
  await burstOfTwiceTheLimit(2, GLOBAL);
});

Deno.test("a burst of twice TIDINGS_MAX_CONNECTIONS against 4 isolates admits exactly the limit", async () => {
  await burstOfTwiceTheLimit(4, GLOBAL);
});

Deno.test("a burst of twice TIDINGS_MAX_CONNECTIONS_PER_IP from one address against 2 isolates admits exactly the limit", async () => {
  await burstOfTwiceTheLimit(2, PER_IP);
});

Deno.test("a burst of twice TIDINGS_MAX_CONNECTIONS_PER_IP from one address against 4 isolates admits exactly the limit", async () => {
  await burstOfTwiceTheLimit(4, PER_IP);
});

Deno.test("by default one client address may hold 100 streams of the process, exactly", async () => {
  await burstOfTwiceTheLimit(2, {
    env: { TIDINGS_MAX_CONNECTIONS_PER_IP: "" }, // unset: the default
    limit: 100,
    reason: "per-client connection limit reached (100)",
  });
});
