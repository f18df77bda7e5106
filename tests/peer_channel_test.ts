import assert from "node:assert/strict";
import { PeerChannel } from "../lib/hub/_peer_channel.ts";
import type { StoredUpdate } from "../lib/hub/update.ts";

function update(seq: number): StoredUpdate {
  return { seq, id: `u${seq}`, topics: ["t"], data: `d${seq}`, time: 1 };
}

/** Waits for `condition`; the deadline is generous (a worker starts slowly on a loaded machine). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("a peer channel knows no peers while its isolate is alone on the channel", async () => {
  const received: StoredUpdate[][] = [];
  const channel = new PeerChannel(`alone-${crypto.randomUUID()}`, (u) => received.push(u));
  channel.post([update(1)]);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(channel.hasPeers, false);
  assert.deepEqual(received, []);
  channel.close();
});

Deno.test("a peer channel learns of a worker that joins later and carries updates both ways", async () => {
  const name = `pair-${crypto.randomUUID()}`;
  const received: StoredUpdate[][] = [];
  const channel = new PeerChannel(name, (updates) => received.push(updates));
  const worker = new Worker(new URL("./support/peer_worker.ts", import.meta.url), {
    type: "module",
  });
  const fromWorker: Array<Record<string, unknown>> = [];
  worker.onmessage = (event) => fromWorker.push(event.data);
  try {
    worker.postMessage({ join: name });
    await until(() => fromWorker.some((m) => "joined" in m), "the worker to join");
    // The worker's hello makes this isolate aware of it.
    await until(() => channel.hasPeers, "the worker's hello");
    channel.post([update(1), update(2)]);
    await until(() => fromWorker.some((m) => "received" in m), "the worker to receive");
    assert.deepEqual(fromWorker.find((m) => "received" in m)!.received, [update(1), update(2)]);
    // This isolate's answer made the worker aware of it too.
    worker.postMessage({ post: [update(3)] });
    await until(() => received.length === 1, "this isolate to receive");
    assert.deepEqual(fromWorker.find((m) => "posted" in m), { posted: true });
    assert.deepEqual(received, [[update(3)]]);
  } finally {
    worker.terminate();
    channel.close();
  }
});
