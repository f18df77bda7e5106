/**
 * A KV lease that elects one worker in the whole cluster (isolates, processes, Deploy instances)
 * to run a job, and hands the job to another within seconds when the holder dies.
 *
 * @module
 */

import { sleep } from "../util/abortable.ts";

interface LeaseValue {
  owner: string;
  expiresAt: number;
}

/** Options of {@link runWithLease}. */
export interface LeaseOptions {
  /** How long a lease lasts without renewal. Default 5000 ms. */
  ttlMs?: number;
  /** Stops competing, ends the job and releases the lease. */
  signal: AbortSignal;
  /** Identifies this worker (random by default). */
  owner?: string;
  /** Stop competing once the job has run to its end while holding the lease. */
  once?: boolean;
}

/**
 * Runs `job` whenever this worker holds the lease `name`; the job's signal aborts when the lease
 * is lost or `options.signal` aborts. Resolves when `options.signal` aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runWithLease } from "./lease.ts";
 * const kv = await Deno.openKv(":memory:");
 * const controller = new AbortController();
 * const runs: string[] = [];
 * await runWithLease(kv, "demo", async () => {
 *   runs.push("job");
 *   controller.abort();
 * }, { signal: controller.signal, owner: "worker-1" });
 * assert.deepEqual(runs, ["job"]);
 * kv.close();
 * ```
 */
export async function runWithLease(
  kv: Deno.Kv,
  name: string,
  job: (signal: AbortSignal) => Promise<void>,
  options: LeaseOptions,
): Promise<void> {
  const ttlMs = options.ttlMs ?? 5000;
  const owner = options.owner ?? crypto.randomUUID();
  const key: Deno.KvKey = ["lease", name];
  const { signal } = options;
  while (!signal.aborted) {
    let versionstamp: string | null = null;
    try {
      versionstamp = await tryAcquire(kv, key, owner, ttlMs);
    } catch {
      // KV unavailable for a moment: try again later.
    }
    if (versionstamp === null) {
      await sleep(ttlMs / 3, signal);
      continue;
    }
    const held = new AbortController();
    const stopHolding = () => held.abort();
    signal.addEventListener("abort", stopHolding, { once: true });
    let completed = false;
    const running = job(held.signal).then(() => {
      completed = !held.signal.aborted;
    }, (error) => {
      console.error(
        JSON.stringify({
          level: "error",
          msg: "leased job failed",
          lease: name,
          error: String(error),
        }),
      );
    }).finally(() => held.abort());
    while (!held.signal.aborted && await sleep(ttlMs / 3, held.signal)) {
      try {
        const result = await kv.atomic().check({ key, versionstamp })
          .set(key, { owner, expiresAt: Date.now() + ttlMs } satisfies LeaseValue).commit();
        if (!result.ok) break;
        versionstamp = result.versionstamp;
      } catch {
        break;
      }
    }
    held.abort();
    signal.removeEventListener("abort", stopHolding);
    await running;
    try {
      await kv.atomic().check({ key, versionstamp }).delete(key).commit();
    } catch {
      // The lease expires by itself.
    }
    if (completed && options.once) return;
    if (!signal.aborted) await sleep(ttlMs / 3, signal);
  }
}

async function tryAcquire(
  kv: Deno.Kv,
  key: Deno.KvKey,
  owner: string,
  ttlMs: number,
): Promise<string | null> {
  const current = await kv.get<LeaseValue>(key);
  if (current.value && current.value.expiresAt > Date.now() && current.value.owner !== owner) {
    return null;
  }
  const result = await kv.atomic().check(current)
    .set(key, { owner, expiresAt: Date.now() + ttlMs } satisfies LeaseValue).commit();
  return result.ok ? result.versionstamp : null;
}
