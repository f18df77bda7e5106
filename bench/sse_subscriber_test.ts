import assert from "node:assert/strict";
import { LatencyHistogram } from "./histogram.ts";
import { publishRequest } from "./publisher.ts";
import { type SharedTally, SseSubscriber } from "./sse_subscriber.ts";
import { mergeRounds, type Outcome } from "./outcome.ts";
import { parseOptions } from "./options.ts";

const encoder = new TextEncoder();

function newTally(): SharedTally {
  return {
    histogram: new LatencyHistogram(),
    received: 0,
    lastReceivedAt: 0,
    warm: 0,
    droppedEarly: 0,
  };
}

/** Serves one connection: answers `head`, then writes `pieces` one by one with a pause between. */
async function withServer(
  head: string,
  pieces: string[],
  run: (port: number, done: Promise<void>) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(4096));
    await conn.write(encoder.encode(head));
    for (const piece of pieces) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await conn.write(encoder.encode(piece));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    conn.close();
  })();
  try {
    await run((listener.addr as Deno.NetAddr).port, served);
  } finally {
    await served;
    listener.close();
  }
}

function chunk(text: string): string {
  return `${encoder.encode(text).length.toString(16)}\r\n${text}\r\n`;
}

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
}

Deno.test("subscriber parses chunked SSE split inside lines and chunk headers", async () => {
  const now = performance.timeOrigin + performance.now();
  const body = chunk(`data: w\n\n`) + chunk(`id: a1\ndata: 0 ${now}\n\n`) +
    chunk(`id: a2\ndata: 1 ${now}\n\nid: a3\ndata: 2 ${now}\n\n`) + "0\r\n\r\n";
  const cut = [7, 30, 31, 55, 80];
  const pieces: string[] = [];
  let from = 0;
  for (const at of cut) {
    pieces.push(body.slice(from, at));
    from = at;
  }
  pieces.push(body.slice(from));
  const tally = newTally();
  await withServer(
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
    pieces,
    async (port, done) => {
      const subscriber = new SseSubscriber(0, tally, 64, true);
      await subscriber.open("127.0.0.1", port, "/sub", undefined);
      await done;
      await waitUntil(() => subscriber.ended);
      assert.equal(subscriber.unique, 3);
      assert.equal(subscriber.duplicates, 0);
      assert.equal(subscriber.outOfOrder, 0);
      assert.equal(subscriber.lastId, "a3");
      assert.equal(tally.warm, 1);
      assert.equal(tally.received, 3);
      subscriber.close();
    },
  );
});

Deno.test("subscriber counts duplicates and late events exactly on a close-delimited stream", async () => {
  const now = performance.timeOrigin + performance.now();
  const events = [0, 2, 1, 2, 40, 3].map((seq) => `data: ${seq} ${now}\n\n`).join("");
  const tally = newTally();
  await withServer(
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n",
    [events],
    async (port, done) => {
      const subscriber = new SseSubscriber(0, tally, 4096, false);
      await subscriber.open("127.0.0.1", port, "/sub", undefined);
      await done;
      await waitUntil(() => subscriber.ended);
      assert.equal(subscriber.unique, 5);
      assert.equal(subscriber.duplicates, 1);
      assert.equal(subscriber.outOfOrder, 2);
      assert.equal(subscriber.maxDisplacement, 37);
      assert.equal(tally.droppedEarly, 1);
      subscriber.close();
    },
  );
});

Deno.test("subscriber open rejects a non-200 answer with its status", async () => {
  await withServer("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n", [], async (port) => {
    const subscriber = new SseSubscriber(0, newTally(), 4096, false);
    await assert.rejects(subscriber.open("127.0.0.1", port, "/sub", undefined), /HTTP 403/);
    subscriber.close();
  });
});

Deno.test("histogram percentiles stay within two percent of the exact value", () => {
  const histogram = new LatencyHistogram();
  for (let i = 1; i <= 10_000; i++) histogram.record(i / 100);
  assert.ok(Math.abs(histogram.percentile(50) - 50) / 50 < 0.02);
  assert.ok(Math.abs(histogram.percentile(99) - 99) / 99 < 0.02);
  assert.equal(histogram.maxMs, 100);
});

Deno.test("tidings publish request is a form post with the bearer token", () => {
  const text = new TextDecoder().decode(
    publishRequest("tidings", "127.0.0.1", 9, "a b", "1 2", "tok"),
  );
  const [head, body] = text.split("\r\n\r\n");
  assert.equal(body, "topic=a%20b&data=1%202");
  assert.match(head, /^POST \/\.well-known\/mercure HTTP\/1\.1\r\n/);
  assert.match(head, /\r\nAuthorization: Bearer tok\r\n/);
  assert.match(head, new RegExp(`\\r\\nContent-Length: ${body.length}(\\r\\n|$)`));
});

Deno.test("merged repetitions report the median of each figure and keep every failure", () => {
  const run = (value: number, round: number, failures: string[] = []): Outcome => ({
    scenario: "s",
    target: "t",
    round,
    notes: [],
    failures,
    metrics: [{ name: "m", value, unit: "", better: "higher" }],
  });
  const [merged] = mergeRounds([run(9, 1), run(1, 2, ["lost 3"]), run(4, 3)]);
  assert.equal(merged.metrics[0].value, 4);
  assert.deepEqual(merged.failures, ["run 2: lost 3"]);
  assert.equal(merged.rounds, 3);
});

Deno.test("smoke options shrink every scenario and numbered scenarios map to names", () => {
  const options = parseOptions(["--smoke", "--scenarios=1,4,catchup"]);
  assert.deepEqual(options.scenarios, ["fanout", "idle", "catchup"]);
  assert.ok(options.sizes.idleConnections < 1000);
  assert.throws(() => parseOptions(["--nope"]), /unknown flag --nope/);
});
