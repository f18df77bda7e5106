import assert from "node:assert/strict";
import { startServer } from "./support/server.ts";
import { type EventStreamHandle, openEventStream, publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { readMetrics, waitUntil } from "./support/hub_probe.ts";
import { readResponse } from "./support/raw_http.ts";
import { type ParsedEvent, SseParser } from "../client/sse_parser.js";

const STALLED = 300;
const HEALTHY = 5;
const ROUND = 32; // events published between checks: 1 MiB
const MAX_EVENTS = 512; // 16 MiB; loopback sockets here absorb about 4 MiB per stalled client
const PADDING = "x".repeat(32 * 1024);

/** The server's resident and peak memory, from /proc (Deno needs -A to read /proc itself). */
async function memoryOf(pid: number): Promise<string> {
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${pid}/status`] }).output();
  const status = new TextDecoder().decode(stdout);
  const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, "m").exec(status)?.[1];
  return `VmRSS ${field("VmRSS")}, VmHWM ${field("VmHWM")}`;
}

/** Reads a stalled connection to its end; resolves with its events and how it ended. */
async function drain(conn: Deno.Conn): Promise<{ events: ParsedEvent[]; ending: string }> {
  const events: ParsedEvent[] = [];
  const parser = new SseParser({ onEvent: (event) => events.push(event) });
  const response = await readResponse(conn);
  assert.equal(response.status, 200);
  let ending = "end of stream";
  try {
    for await (const chunk of response.body) parser.feed(chunk);
  } catch (error) {
    ending = (error as Error).name; // e.g. ConnectionReset
  } finally {
    response.close();
  }
  return { events, ending };
}

async function stalledClientsAreDroppedAndResume(direct: boolean) {
  const server = await startServer({
    direct,
    env: { TIDINGS_DEMO_FEEDS: "off", TIDINGS_SUBSCRIBER_BUFFER_BYTES: "65536" },
  });
  const stalled: Deno.Conn[] = [];
  const healthy: EventStreamHandle[] = [];
  try {
    const token = await mercureToken({ publish: ["*"] });
    const request = new TextEncoder().encode(
      "GET /.well-known/mercure?topic=firehose HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    );
    for (let i = 0; i < STALLED; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      stalled.push(conn);
      await conn.write(request); // and never read (until the end of the test)
    }
    for (let i = 0; i < HEALTHY; i++) {
      healthy.push(await openEventStream(`${server.url}/.well-known/mercure?topic=firehose`));
    }
    await waitUntil("every stream to be open", async () => {
      const metrics = await readMetrics(server.url);
      return metrics.get("tidings_open_connections") === STALLED + HEALTHY;
    }, 15_000);
    console.log(
      `server memory with ${STALLED + HEALTHY} streams open: ${await memoryOf(server.pid)}`,
    );

    // Publish until every stalled client has overflowed (the kernel buffers some MiB first).
    const started = Date.now();
    const ids: string[] = [];
    let dropped = 0;
    while (dropped < STALLED) {
      assert.ok(ids.length < MAX_EVENTS, `only ${dropped} stalled clients dropped`);
      for (let i = 0; i < ROUND; i++) {
        const n = ids.length;
        const result = await publish(server.url, token, {
          topic: "firehose",
          data: `${n} ${PADDING}`,
        });
        assert.equal(result.status, 200, result.body);
        ids.push(result.body);
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      dropped = (await readMetrics(server.url)).get("tidings_slow_consumer_disconnects_total") ?? 0;
    }
    const total = ids.length;
    const expected = ids.map((id, n) => ({ id, data: `${n} ${PADDING}` }));
    console.log(
      `all ${STALLED} stalled clients dropped after ${total} events (${total / 32} MiB); ` +
        `server memory: ${await memoryOf(server.pid)}`,
    );
    for (const subscriber of healthy) {
      const events = await subscriber.waitFor(total, 30_000);
      assert.deepEqual(
        events.map((event) => ({ id: event.lastEventId, data: event.data })),
        expected,
      );
    }
    console.log(`healthy subscribers had all ${total} events after ${Date.now() - started} ms`);
    // The healthy ones are still connected; every stalled one is gone.
    await waitUntil("only the healthy connections to remain", async () => {
      const metrics = await readMetrics(server.url);
      return metrics.get("tidings_open_connections") === HEALTHY &&
        metrics.get("tidings_slow_consumer_disconnects_total") === STALLED;
    }, 10_000);
    console.log(`server memory after dropping them: ${await memoryOf(server.pid)}`);
    // A fence: a duplicate or stray event would arrive before it.
    const fence = await publish(server.url, token, { topic: "firehose", data: "fence" });
    for (const subscriber of healthy) {
      const events = await subscriber.waitFor(total + 1);
      assert.equal(events[total].lastEventId, fence.body, "no duplicate or stray event");
    }

    // Reading them now: what was already in flight, then the end of the stream.
    const drained = await Promise.all(stalled.splice(0).map(drain));
    for (const { events } of drained) {
      assert.ok(events.length < total, "a stalled connection was dropped before the end");
      // What did arrive is a prefix of the log, in order.
      assert.deepEqual(
        events.map((event) => ({ id: event.lastEventId, data: event.data })),
        expected.slice(0, events.length),
      );
    }
    console.log(
      "stalled connections ended with:",
      Object.entries(Object.groupBy(drained, ({ ending }) => ending)).map(([ending, list]) =>
        `${ending} x${list!.length}`
      ).join(", "),
    );

    // One of them comes back with Last-Event-ID and gets the rest: nothing lost, nothing twice.
    const before = drained[0].events;
    const lastEventId = before.at(-1)?.lastEventId ?? "earliest";
    const resumed = await openEventStream(`${server.url}/.well-known/mercure?topic=firehose`, {
      headers: { "last-event-id": lastEventId },
    });
    try {
      assert.equal(resumed.response.headers.get("last-event-id"), lastEventId);
      const rest = await resumed.waitFor(total + 1 - before.length, 15_000);
      // The log holds the fence too: it ends the replay, so nothing came twice before it.
      assert.deepEqual(
        [...before, ...rest].map((event) => ({ id: event.lastEventId, data: event.data })),
        [...expected, { id: fence.body, data: "fence" }],
      );
    } finally {
      await resumed.close();
    }
  } finally {
    for (const conn of stalled) conn.close();
    for (const subscriber of healthy) await subscriber.close();
    await server.close();
  }
}

Deno.test("stalled clients are dropped while healthy subscribers get every event, and a stalled one resumes without loss", async () => {
  await stalledClientsAreDroppedAndResume(false);
});

Deno.test("the direct listener drops stalled clients the same way, and one resumes without loss", async () => {
  await stalledClientsAreDroppedAndResume(true);
});

Deno.test("stalled clients that asked for gzip are dropped too: compression keeps the back-pressure", async () => {
  const server = await startServer({
    env: { TIDINGS_DEMO_FEEDS: "off", TIDINGS_SUBSCRIBER_BUFFER_BYTES: "65536" },
  });
  const stalled: Deno.Conn[] = [];
  try {
    const token = await mercureToken({ publish: ["*"] });
    const request = new TextEncoder().encode(
      "GET /.well-known/mercure?topic=zipped HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        "Accept-Encoding: gzip\r\n\r\n",
    );
    for (let i = 0; i < 10; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      stalled.push(conn);
      await conn.write(request);
    }
    await waitUntil("the streams to open", async () => {
      return (await readMetrics(server.url)).get("tidings_open_connections") === 10;
    });
    // Random text compresses little, so the compressed stream fills the sockets too.
    const randomText = () =>
      Array.from(crypto.getRandomValues(new Uint8Array(16 * 1024)), (byte) => byte % 64 + 48)
        .map((code) => String.fromCharCode(code)).join("");
    let dropped = 0;
    for (let n = 0; dropped < 10; n++) {
      assert.ok(n < MAX_EVENTS * 2, `only ${dropped} of 10 gzip clients dropped`);
      const result = await publish(server.url, token, { topic: "zipped", data: randomText() });
      assert.equal(result.status, 200);
      if (n % ROUND === ROUND - 1) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const metrics = await readMetrics(server.url);
        dropped = metrics.get("tidings_slow_consumer_disconnects_total") ?? 0;
      }
    }
    await waitUntil("the connections to close", async () => {
      return (await readMetrics(server.url)).get("tidings_open_connections") === 0;
    });
  } finally {
    for (const conn of stalled) conn.close();
    await server.close();
  }
});
