import assert from "node:assert/strict";

interface Reply {
  ok: boolean;
  error?: string;
  ids?: string[];
  received?: Array<{ seq: number; data: string }>;
  stats?: { gapEvents: number; fromChannel: number; duplicatesDropped: number };
}

function hubWorker() {
  const worker = new Worker(new URL("./support/hub_worker.ts", import.meta.url), {
    type: "module",
  });
  const pending: Array<(reply: Reply) => void> = [];
  worker.onmessage = (event: MessageEvent<Reply>) => pending.shift()!(event.data);
  return {
    send(message: Record<string, unknown>): Promise<Reply> {
      return new Promise((resolve, reject) => {
        pending.push((reply) => reply.ok ? resolve(reply) : reject(new Error(reply.error)));
        worker.postMessage(message);
      });
    },
    terminate: () => worker.terminate(),
  };
}

async function waitForCount(worker: ReturnType<typeof hubWorker>, count: number) {
  const deadline = Date.now() + 15_000;
  while (true) {
    const reply = await worker.send({ cmd: "collect" });
    if (reply.received!.length >= count || Date.now() > deadline) return reply;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("a worker that misses a burst of channel messages fills the gap from KV, in order, once", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/hub.kv`;
  const receiver = hubWorker();
  const publisher = hubWorker();
  try {
    await receiver.send({ cmd: "open", path });
    await publisher.send({ cmd: "open", path });
    await receiver.send({ cmd: "subscribe", topic: "burst" });
    // Block the receiver while 1,200 single-event commits are broadcast: far past the channel's
    // 256-message ring, so most messages are dropped and the receiver must read them from KV.
    const blocked = receiver.send({ cmd: "block", ms: 1500 });
    const published = await publisher.send({
      cmd: "publish",
      topic: "burst",
      count: 1200,
      sequential: true,
      prefix: "e",
    });
    await blocked;
    const reply = await waitForCount(receiver, 1200);
    const received = reply.received!;
    assert.equal(received.length, 1200);
    assert.deepEqual(
      received.map((update) => update.data),
      Array.from({ length: 1200 }, (_, n) => `e${n}`),
    );
    assert.deepEqual(
      received.map((update) => update.seq),
      Array.from({ length: 1200 }, (_, n) => n + 1),
    );
    assert.equal(published.ids!.length, 1200);
    assert.ok(
      reply.stats!.gapEvents > 0,
      "the receiver read nothing from KV: the gap path was not exercised",
    );
  } finally {
    await receiver.send({ cmd: "close" }).catch(() => {});
    await publisher.send({ cmd: "close" }).catch(() => {});
    receiver.terminate();
    publisher.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two workers publishing concurrently are seen by each other's subscribers identically", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/hub.kv`;
  const a = hubWorker();
  const b = hubWorker();
  try {
    await a.send({ cmd: "open", path });
    await b.send({ cmd: "open", path });
    await a.send({ cmd: "subscribe", topic: "both" });
    await b.send({ cmd: "subscribe", topic: "both" });
    await Promise.all([
      a.send({ cmd: "publish", topic: "both", count: 600, sequential: false, prefix: "a" }),
      b.send({ cmd: "publish", topic: "both", count: 600, sequential: false, prefix: "b" }),
    ]);
    const fromA = (await waitForCount(a, 1200)).received!;
    const fromB = (await waitForCount(b, 1200)).received!;
    assert.equal(fromA.length, 1200);
    assert.deepEqual(fromA, fromB);
    assert.deepEqual(
      fromA.map((update) => update.seq),
      Array.from({ length: 1200 }, (_, n) => n + 1),
    );
    assert.equal(new Set(fromA.map((update) => update.data)).size, 1200);
  } finally {
    await a.send({ cmd: "close" }).catch(() => {});
    await b.send({ cmd: "close" }).catch(() => {});
    a.terminate();
    b.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});
