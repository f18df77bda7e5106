import assert from "node:assert/strict";
import { runWithLease } from "../lib/kv/lease.ts";

Deno.test("only one of several competitors runs a leased job at a time", async () => {
  const kv = await Deno.openKv(":memory:");
  const stop = new AbortController();
  let running = 0;
  let maxRunning = 0;
  const holders: string[] = [];
  const competitors = ["a", "b", "c"].map((owner) =>
    runWithLease(kv, "job", async (held) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      holders.push(owner);
      await new Promise((resolve) => held.addEventListener("abort", resolve, { once: true }));
      running--;
    }, { signal: stop.signal, owner, ttlMs: 300 })
  );
  await new Promise((resolve) => setTimeout(resolve, 800));
  stop.abort();
  await Promise.all(competitors);
  kv.close();
  assert.equal(maxRunning, 1);
  assert.equal(holders.length, 1, `holders: ${holders}`);
});

Deno.test("a lease left by a dead holder is taken over once it expires", async () => {
  const kv = await Deno.openKv(":memory:");
  // A holder that died without releasing: its lease runs 600 ms more.
  await kv.set(["lease", "feed"], { owner: "dead", expiresAt: Date.now() + 600 });
  const stop = new AbortController();
  let startedAt = 0;
  const began = Date.now();
  const competitor = runWithLease(kv, "feed", async (held) => {
    startedAt = Date.now();
    stop.abort();
    await Promise.resolve(held);
  }, { signal: stop.signal, ttlMs: 300 });
  await competitor;
  kv.close();
  assert.ok(startedAt > 0, "the lease was never taken over");
  assert.ok(startedAt - began >= 550, "the lease was taken before it expired");
});

Deno.test("a job that runs to its end with once is not started again", async () => {
  const kv = await Deno.openKv(":memory:");
  let runs = 0;
  await runWithLease(kv, "game", () => {
    runs++;
    return Promise.resolve();
  }, { signal: new AbortController().signal, once: true, ttlMs: 200 });
  kv.close();
  assert.equal(runs, 1);
});
