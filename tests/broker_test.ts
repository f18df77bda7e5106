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

/** An update at `seq` as the log stores it. */
function stored(seq: number) {
  return { seq, id: `u${seq}`, topics: ["t"], data: `d${seq}`, time: 1 };
}

Deno.test("the broker fills a gap from the log before a later position, and drops what it already delivered", async () => {
  const { Broker } = await import("../lib/hub/_broker.ts");
  const { EventLog } = await import("../lib/hub/_event_log.ts");
  const { KvTransport } = await import("../lib/kv/kv_transport.ts");
  const transport = new KvTransport(await Deno.openKv(":memory:"));
  const log = await EventLog.open(transport);
  const broker = await Broker.start(log, { pollMs: 60_000 });
  const delivered: number[] = [];
  broker.listen((updates) => delivered.push(...updates.map((update) => update.seq)));
  // Another isolate's commits: rows in the log (the head is left alone, so only the channel
  // message below can tell this broker about them).
  await transport.kv.set(["log", 1], [stored(1), stored(2)]);
  await transport.kv.set(["log", 3], [stored(3)]);
  await transport.kv.set(["log", 4], [stored(4)]);
  const peer = new BroadcastChannel(`tidings-${log.epoch}`);
  const until = async (count: number) => {
    const deadline = Date.now() + 10_000;
    while (delivered.length < count) {
      if (Date.now() > deadline) throw new Error(`delivered ${JSON.stringify(delivered)}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  try {
    // Position 3 arrives first: 1 and 2 are read from the log and delivered before it.
    peer.postMessage({ updates: [stored(3)] });
    await until(3);
    assert.deepEqual(delivered, [1, 2, 3]);
    // 3 again, with 4: only 4 is new.
    peer.postMessage({ updates: [stored(3), stored(4)] });
    await until(4);
    await broker.idle();
    assert.deepEqual(delivered, [1, 2, 3, 4]);
    assert.equal(broker.stats.gapsFilled, 1);
    assert.equal(broker.stats.duplicatesDropped, 1);
  } finally {
    peer.close();
    broker.close();
    transport.close();
  }
});

Deno.test("a catch-up that keeps failing is retried promptly but logged once, then at most every 5 s with its count, and its recovery once", async () => {
  const { Broker } = await import("../lib/hub/_broker.ts");
  const { EventLog } = await import("../lib/hub/_event_log.ts");
  const { KvTransport } = await import("../lib/kv/kv_transport.ts");
  const { StorageUnavailableError } = await import("../lib/hub/transport.ts");
  const transport = new KvTransport(await Deno.openKv(":memory:"));
  // The store is down for reads until `down` is cleared; `failed` counts the refused reads (one
  // per catch-up attempt).
  let down = true;
  let failed = 0;
  const read = transport.read.bind(transport);
  transport.read = (...args) => {
    if (!down) return read(...args);
    failed++;
    return Promise.reject(new StorageUnavailableError("store down"));
  };
  let clock = 1_000_000;
  const log = await EventLog.open(transport);
  const broker = await Broker.start(log, { pollMs: 60_000, now: () => clock });
  const delivered: number[] = [];
  broker.listen((updates) => delivered.push(...updates.map((update) => update.seq)));
  const lines: Record<string, unknown>[] = [];
  const write = console.error;
  console.error = (line: string) => lines.push(JSON.parse(line));
  const until = async (done: () => boolean, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const logged = () =>
    lines.map(({ level, msg, failedAttempts, error }) => ({ level, msg, failedAttempts, error }));
  try {
    // Another isolate's commit, in the log but not at the head: only this request reads it.
    await transport.kv.set(["log", 1], [stored(1)]);
    broker.catchUpTo(1);
    await until(() => failed >= 4, "four failed attempts");
    const first = {
      level: "error",
      msg: "broker catch-up failed",
      failedAttempts: 1,
      error: "StorageUnavailableError: store down",
    };
    assert.deepEqual(logged(), [first]);
    // 5 s later (on the broker's clock) the next failure is logged, with the count so far.
    clock += 5000;
    const before = failed;
    await until(() => failed > before, "a failure after 5 s");
    const again = { ...first, msg: "broker catch-up still failing", failedAttempts: before + 1 };
    assert.deepEqual(logged(), [first, again]);
    // Less than 5 s after that line: nothing more, however many attempts fail.
    clock += 4999;
    const quiet = failed;
    await until(() => failed >= quiet + 3, "three more failed attempts");
    assert.deepEqual(logged(), [first, again]);
    assert.deepEqual(delivered, []);
    // The store is back: the next attempt delivers, and says so once.
    down = false;
    await until(() => delivered.length === 1, "the delivery");
    await broker.idle();
    assert.deepEqual(delivered, [1]);
    assert.deepEqual(logged(), [first, again, {
      level: "warn",
      msg: "broker catch-up recovered",
      failedAttempts: failed,
      error: undefined,
    }]);
  } finally {
    console.error = write;
    broker.close();
    transport.close();
  }
});
