/**
 * Delivery across processes: two server processes on one KV file (what two nodes sharing a store
 * look like) deliver every update published to either of them to subscribers of both, each once
 * and in log order, while both publish at once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { assertIncreasingPositions, positionOf } from "./support/hub_ids.ts";
import { hubUrl } from "./support/mercure.ts";
import { startServer } from "./support/server.ts";
import { type EventStreamHandle, openSubscribed, publishAccepted } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

const PER_PROCESS = 150;

Deno.test("two processes on one KV file deliver each other's updates once and in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tidings-two-processes-" });
  const env = { TIDINGS_KV_PATH: `${dir}/hub.kv`, TIDINGS_DEMO_FEEDS: "off" };
  const servers = [await startServer({ env }), await startServer({ env })];
  const streams: EventStreamHandle[] = [];
  try {
    assert.notEqual(servers[0].pid, servers[1].pid);
    const token = await mercureToken({ publish: ["*"] });
    for (const server of servers) {
      for (let i = 0; i < 2; i++) {
        streams.push(await openSubscribed(hubUrl(server.url, [["topic", "across"]])));
      }
    }
    // Both processes publish at once, each its own numbered series.
    const ids = (await Promise.all(servers.map(async (server, process) => {
      const published: string[] = [];
      for (let n = 0; n < PER_PROCESS; n++) {
        const { body } = await publishAccepted(server.url, token, {
          topic: "across",
          data: `${process}:${n}`,
        });
        published.push(body);
      }
      return published;
    }))).flat();
    const fence = (await publishAccepted(servers[1].url, token, { topic: "across", data: "fence" }))
      .body;
    const expected = [...ids.sort((a, b) => positionOf(a) - positionOf(b)), fence];
    assert.equal(new Set(expected).size, 2 * PER_PROCESS + 1, "every publish got its own id");
    for (const [index, stream] of streams.entries()) {
      const events = await stream.waitFor(expected.length, 20_000);
      const received = events.map((event) => event.lastEventId);
      assertIncreasingPositions(received, `subscriber ${index}`);
      assert.deepEqual(received, expected, `subscriber ${index}`);
      // Each process's own series arrives in its publishing order.
      for (const process of [0, 1]) {
        const series = events.map((event) => event.data).filter((data) =>
          data.startsWith(`${process}:`)
        );
        assert.deepEqual(
          series,
          Array.from({ length: PER_PROCESS }, (_, n) => `${process}:${n}`),
        );
      }
    }
  } finally {
    for (const stream of streams) await stream.close();
    for (const server of servers) await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
