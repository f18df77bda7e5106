import assert from "node:assert/strict";
import { startServer } from "./support/server.ts";
import { type EventStreamHandle, openEventStream, publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { parseMetrics, pinnedClients, readMetrics, waitUntil } from "./support/hub_probe.ts";

const OFF = { TIDINGS_DEMO_FEEDS: "off", TIDINGS_SUBSCRIPTION_EVENTS: "off" };
const HISTOGRAMS = ["tidings_publish_latency_seconds", "tidings_kv_commit_latency_seconds"];
/** Per-topic series of test topics need the metrics token. */
const METRICS_TOKEN = "metrics-token-for-tidings-tests";
const WITH_TOKEN = { ...OFF, TIDINGS_METRICS_TOKEN: METRICS_TOKEN };

/** `/metrics` as the holder of the metrics token reads it. */
async function readAllMetrics(url: string, client?: Deno.HttpClient) {
  const response = await fetch(`${url}/metrics`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    client,
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return parseMetrics(text);
}

/** Checks one histogram's shape: cumulative buckets ending in +Inf = count. */
function histogram(metrics: Map<string, number>, name: string): { count: number; sum: number } {
  const buckets = [...metrics].filter(([sample]) => sample.startsWith(`${name}_bucket{`));
  assert.ok(buckets.length > 2, `${name} has buckets`);
  assert.equal(buckets.at(-1)![0], `${name}_bucket{le="+Inf"}`);
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(buckets[i][1] >= buckets[i - 1][1], `${name} buckets are cumulative`);
  }
  const count = metrics.get(`${name}_count`)!;
  assert.equal(buckets.at(-1)![1], count);
  return { count, sum: metrics.get(`${name}_sum`)! };
}

Deno.test("/healthz and /readyz answer 200 on a running hub", async () => {
  const server = await startServer({ env: OFF });
  try {
    const health = await fetch(`${server.url}/healthz`);
    assert.deepEqual([health.status, await health.text()], [200, "ok\n"]);
    assert.equal(health.headers.get("cache-control"), "no-store");
    const ready = await fetch(`${server.url}/readyz`);
    assert.deepEqual([ready.status, await ready.text()], [200, "ready\n"]);
  } finally {
    await server.close();
  }
});

Deno.test("/metrics reports connections, topics, publishes, deliveries, replays, refusals and latencies", async () => {
  const server = await startServer({ env: WITH_TOKEN });
  const streams: EventStreamHandle[] = [];
  try {
    const token = await mercureToken({ publish: ["*"] });
    const news = `${server.url}/.well-known/mercure?topic=news`;
    streams.push(await openEventStream(news), await openEventStream(news));
    streams.push(await openEventStream(`${news}&lastEventID=earliest`));
    streams.push(await openEventStream(`${server.url}/.well-known/mercure?topic=sports`));
    const refused = await fetch(`${news}&filter=bad`);
    assert.equal(refused.status, 400);
    await refused.body?.cancel();
    for (let n = 0; n < 3; n++) await publish(server.url, token, { topic: "news", data: `n${n}` });
    for (let n = 0; n < 2; n++) {
      await publish(server.url, token, { topic: "sports", data: `s${n}` });
    }
    for (const [index, stream] of streams.entries()) await stream.waitFor(index < 3 ? 3 : 2);

    const response = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();
    for (
      const type of [
        "gauge tidings_open_connections",
        "gauge tidings_topic_subscribers",
        "gauge tidings_process_resident_memory_bytes",
        "gauge tidings_heap_used_bytes",
      ]
    ) {
      const [kind, name] = type.split(" ");
      assert.ok(text.includes(`# TYPE ${name} ${kind}\n`), `${name} is typed`);
    }
    for (const name of HISTOGRAMS) assert.ok(text.includes(`# TYPE ${name} histogram\n`));
    await waitUntil("deliveries to be counted", async () => {
      return (await readAllMetrics(server.url)).get("tidings_events_delivered_total") === 3 * 3 + 2;
    });
    const metrics = await readAllMetrics(server.url);
    const pick = (name: string) => metrics.get(name);
    assert.equal(pick("tidings_open_connections"), 4);
    assert.equal(pick("tidings_isolates"), 1);
    const heapUsed = pick("tidings_heap_used_bytes")!;
    assert.ok(heapUsed > 1_000_000, `heap used ${heapUsed} bytes`);
    assert.ok(pick("tidings_heap_total_bytes")! >= heapUsed);
    assert.ok(pick("tidings_process_resident_memory_bytes")! > heapUsed);
    assert.equal(pick('tidings_topic_subscribers{topic="news"}'), 3);
    assert.equal(pick('tidings_topic_subscribers{topic="sports"}'), 1);
    assert.equal(pick("tidings_events_published_total"), 5);
    assert.equal(pick("tidings_events_committed_total"), 5);
    assert.equal(pick('tidings_refusals_total{reason="400"}'), 1);
    assert.equal(pick("tidings_connections_opened_total"), 4);
    const publishes = histogram(metrics, "tidings_publish_latency_seconds");
    assert.equal(publishes.count, 5);
    assert.ok(publishes.sum > 0);
    const commits = histogram(metrics, "tidings_kv_commit_latency_seconds");
    assert.equal(commits.count, pick("tidings_kv_commits_total"));
    assert.ok(commits.count >= 1 && commits.count <= 5, `${commits.count} commits`);

    // A closed stream leaves the gauges.
    await streams.shift()!.close();
    await waitUntil("the gauges to drop", async () => {
      const after = await readAllMetrics(server.url);
      return after.get("tidings_open_connections") === 3 &&
        after.get('tidings_topic_subscribers{topic="news"}') === 2;
    });
  } finally {
    for (const stream of streams) await stream.close();
    await server.close();
  }
});

Deno.test({
  name: "every resumed stream is counted in tidings_replays_total",
  fn: async () => {
    const server = await startServer({ env: OFF });
    const streams: EventStreamHandle[] = [];
    try {
      const token = await mercureToken({ publish: ["*"] });
      const id = (await publish(server.url, token, { topic: "news", data: "one" })).body;
      const news = `${server.url}/.well-known/mercure?topic=news`;
      streams.push(await openEventStream(`${news}&lastEventID=earliest`));
      streams.push(await openEventStream(news, { headers: { "last-event-id": id } }));
      streams.push(await openEventStream(`${news}&lastEventID=earliest&throttle=100`));
      streams.push(await openEventStream(news)); // live only: not a replay
      await streams[0].waitFor(1);
      await streams[2].waitFor(1);
      assert.equal((await readMetrics(server.url)).get("tidings_replays_total"), 3);
    } finally {
      for (const stream of streams) await stream.close();
      await server.close();
    }
  },
});

Deno.test("/metrics of either isolate sums the figures of both", async () => {
  const dir = await Deno.makeTempDir();
  const server = await startServer({
    parallel: 2,
    env: { ...WITH_TOKEN, TIDINGS_KV_PATH: `${dir}/hub.kv` },
  });
  const streams: EventStreamHandle[] = [];
  const clients: Deno.HttpClient[] = [];
  try {
    const token = await mercureToken({ publish: ["*"] });
    // Two streams on one isolate, one on the other.
    const subscribers = await pinnedClients(server.url, token, [2, 1]);
    clients.push(...subscribers.clients.map(({ client }) => client));
    for (const { client } of subscribers.clients) {
      streams.push(
        await openEventStream(`${server.url}/.well-known/mercure?topic=agg`, { client }),
      );
    }
    // Publishes through both isolates (the probes of pinnedClients are publishes too).
    const publishers = await pinnedClients(server.url, token, [1, 1]);
    clients.push(...publishers.clients.map(({ client }) => client));
    let published = subscribers.probes + publishers.probes;
    for (let n = 0; n < 10; n++) {
      const { client } = publishers.clients[n % 2];
      const response = await fetch(`${server.url}/.well-known/mercure`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: new URLSearchParams({ topic: "agg", data: `${n}` }),
        client,
      });
      assert.equal(response.status, 200);
      await response.text();
      published++;
    }
    for (const stream of streams) await stream.waitFor(10);
    const expected = new Map<string, number>([
      ["tidings_isolates", 2],
      ["tidings_open_connections", 3],
      ['tidings_topic_subscribers{topic="agg"}', 3],
      ["tidings_events_published_total", published],
      ["tidings_events_committed_total", published],
      ["tidings_events_delivered_total", 30],
      ["tidings_publish_latency_seconds_count", published],
    ]);
    // Asked through each isolate (the publishers' connections), the answer is the sum.
    for (const { client, isolate } of publishers.clients) {
      let metrics = new Map<string, number>();
      await waitUntil(`isolate ${isolate} to report the sums`, async () => {
        metrics = await readAllMetrics(server.url, client);
        return [...expected].every(([name, value]) => metrics.get(name) === value);
      }).catch((error) => {
        const seen = [...expected.keys()].map((name) => `${name}=${metrics.get(name)}`);
        throw new Error(`${error.message}; saw ${seen.join(", ")}`);
      });
      histogram(metrics, "tidings_publish_latency_seconds");
      histogram(metrics, "tidings_kv_commit_latency_seconds");
    }
  } finally {
    for (const stream of streams) await stream.close();
    for (const client of clients) client.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
