import assert from "node:assert/strict";
import { runWithLease } from "../lib/hub/lease.ts";
import { KvTransport } from "../lib/kv/kv_transport.ts";

/** Fails (instead of hanging) when `promise` does not settle within `ms`. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

Deno.test("only one of several competitors runs a leased job at a time", async () => {
  const transport = new KvTransport(await Deno.openKv(":memory:"));
  const stop = new AbortController();
  let running = 0;
  let maxRunning = 0;
  const holders: string[] = [];
  const firstHeld = Promise.withResolvers<void>();
  const competitors = ["a", "b", "c"].map((owner) =>
    runWithLease(transport, {
      name: "job",
      owner,
      ttlMs: 300,
      signal: stop.signal,
      job: async (held) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        holders.push(owner);
        firstHeld.resolve();
        await new Promise((resolve) => held.addEventListener("abort", resolve, { once: true }));
        running--;
      },
    })
  );
  await within(2000, firstHeld.promise, "a competitor taking the lease");
  // Several renewal periods (ttl / 3) pass while the others keep trying.
  await new Promise((resolve) => setTimeout(resolve, 600));
  stop.abort();
  await within(2000, Promise.all(competitors), "the competitors stopping");
  transport.close();
  assert.equal(maxRunning, 1);
  assert.equal(holders.length, 1, `holders: ${holders}`);
});

Deno.test("a lease left by a dead holder is taken over only once it expires", async () => {
  const transport = new KvTransport(await Deno.openKv(":memory:"));
  // A holder that died without releasing: its lease runs 600 ms more.
  const dead = await transport.acquireLease("feed", "dead", 600);
  assert.ok(dead, "the dead holder's lease was not taken");
  const expiresAt = Date.now() + 600;
  const stop = new AbortController();
  let startedAt = 0;
  await within(
    3000,
    runWithLease(transport, {
      name: "feed",
      ttlMs: 300,
      signal: stop.signal,
      job: () => {
        startedAt = Date.now();
        stop.abort();
        return Promise.resolve();
      },
    }),
    "taking the expired lease over",
  );
  transport.close();
  assert.ok(startedAt >= expiresAt - 5, `taken ${expiresAt - startedAt} ms before it expired`);
});

Deno.test("a job that runs to its end with once is not started again", async () => {
  const transport = new KvTransport(await Deno.openKv(":memory:"));
  let runs = 0;
  await within(
    2000,
    runWithLease(transport, {
      name: "game",
      once: true,
      ttlMs: 200,
      signal: new AbortController().signal,
      job: () => {
        runs++;
        return Promise.resolve();
      },
    }),
    "a once job finishing",
  );
  transport.close();
  assert.equal(runs, 1);
});

Deno.test("a lease taken over by another owner is not renewed by the old holder", async () => {
  const transport = new KvTransport(await Deno.openKv(":memory:"));
  const hold = await transport.acquireLease("x", "a", 60_000);
  assert.ok(hold);
  assert.equal(await transport.acquireLease("x", "b", 60_000), undefined);
  await transport.releaseLease(hold);
  const taken = await transport.acquireLease("x", "b", 60_000);
  assert.ok(taken, "b could not take a released lease");
  assert.equal(await transport.renewLease(hold, 60_000), undefined);
  transport.close();
});
