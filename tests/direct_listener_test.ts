/**
 * Black-box tests of the direct listener (`scripts/serve_direct.ts`): the same hub on tidings'
 * own HTTP/1.1 server, with event streams written straight to their connections.
 *
 * @module
 */

import assert from "node:assert/strict";
import { expectedRefusal, HUB_PATH, hubUrl, readRefusal } from "./support/mercure.ts";
import { type RunningServer, startServer } from "./support/server.ts";
import {
  type EventStreamHandle,
  openSubscribed,
  parsedEvent,
  publish,
  publishAccepted,
} from "./support/sse_client.ts";
import { readMetrics, waitUntil } from "./support/hub_probe.ts";
import { rawExchange } from "./support/raw_http.ts";
import { mercureToken } from "./support/tokens.ts";

async function withDirectServer(test: (server: RunningServer) => Promise<void>): Promise<void> {
  const server = await startServer({ direct: true, env: { TIDINGS_DEMO_FEEDS: "off" } });
  try {
    await test(server);
  } finally {
    await server.close();
  }
}

Deno.test("the direct listener streams updates with ids, the retry hint and Mercure headers", async () => {
  await withDirectServer(async (server) => {
    const token = await mercureToken({ publish: ["*"] });
    const stream = await openSubscribed(hubUrl(server.url, [["topic", "news"]]));
    try {
      assert.equal(stream.response.headers.get("content-type"), "text/event-stream");
      assert.equal(
        stream.response.headers.get("link"),
        `<${server.url}${HUB_PATH}>; rel="mercure"`,
      );
      assert.equal(stream.retry, 3000);
      const first = await publishAccepted(server.url, token, { topic: "news", data: "one" });
      const second = await publishAccepted(server.url, token, {
        topic: "news",
        data: "two\nlines",
        type: "note",
        id: "mine-2",
      });
      await publishAccepted(server.url, token, { topic: "elsewhere", data: "not for us" });
      const third = await publishAccepted(server.url, token, { topic: "news", data: "three" });
      assert.equal(second.body, "mine-2");
      assert.deepEqual(await stream.waitFor(3), [
        parsedEvent("one", first.body),
        parsedEvent("two\nlines", "mine-2", "note"),
        parsedEvent("three", third.body),
      ]);
    } finally {
      await stream.close();
    }
  });
});

Deno.test("the direct listener resumes a stream after the event its Last-Event-ID names", async () => {
  await withDirectServer(async (server) => {
    const token = await mercureToken({ publish: ["*"] });
    const ids = [];
    for (const data of ["a", "b", "c"]) {
      ids.push((await publishAccepted(server.url, token, { topic: "log", data })).body);
    }
    const stream = await openSubscribed(hubUrl(server.url, [["topic", "log"]]), {
      headers: { "last-event-id": ids[0] },
    });
    try {
      assert.equal(stream.response.headers.get("last-event-id"), ids[0]);
      assert.deepEqual(await stream.waitFor(2), [
        parsedEvent("b", ids[1]),
        parsedEvent("c", ids[2]),
      ]);
    } finally {
      await stream.close();
    }
  });
});

Deno.test("the direct listener answers other routes and refusals like deno serve", async () => {
  await withDirectServer(async (server) => {
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    assert.deepEqual(
      await readRefusal(await fetch(`${server.url}${HUB_PATH}`, { method: "PUT" })),
      expectedRefusal(405, "use GET to subscribe or POST to publish"),
    );
    const anonymous = await publish(server.url, "not-a-token", { topic: "x", data: "y" });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.body, /^invalid token: /);
    const missing = await fetch(`${server.url}/no-such-file.txt`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const upgrade = await rawExchange(
      server.port,
      `GET ${HUB_PATH}?topic=x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    assert.equal(upgrade.status, 501);
    assert.equal(
      upgrade.text,
      "WebSocket is not served by the direct listener: subscribe with SSE\n",
    );
  });
});

Deno.test("the direct listener releases a subscription as soon as its client goes", async () => {
  await withDirectServer(async (server) => {
    const streams: EventStreamHandle[] = [];
    for (let n = 0; n < 5; n++) {
      streams.push(await openSubscribed(hubUrl(server.url, [["topic", `t${n}`]])));
    }
    const open = async () => (await readMetrics(server.url)).get("tidings_open_connections");
    assert.equal(await open(), 5);
    for (const stream of streams) await stream.close();
    await waitUntil("every stream released", async () => (await open()) === 0);
  });
});
