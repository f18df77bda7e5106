/**
 * A lease that elects one worker in the whole cluster (isolates, processes, nodes, Deploy
 * instances) to run a job, and hands the job to another within seconds when the holder dies. The
 * transport holds the lease; this module competes for it, renews it and runs the job.
 *
 * @module
 */

import type { LeaseHold, Transport } from "./transport.ts";
import { sleep } from "../util/abortable.ts";

/** A job to run under a lease: {@link runWithLease}. */
export interface LeasedJob {
  /** The lease's name: one holder per name in the cluster. */
  name: string;
  /** Runs while the lease is held; its signal aborts when the lease is lost or `signal` aborts. */
  job: (held: AbortSignal) => Promise<void>;
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
 * is lost or `signal` aborts. Resolves when `signal` aborts (or, with `once`, after the job ran to
 * its end).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runWithLease } from "./lease.ts";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const runs: string[] = [];
 * const job = (owner: string) => async () => void runs.push(owner);
 * const signal = new AbortController().signal;
 * await runWithLease(transport, { name: "demo", job: job("a"), signal, once: true, owner: "a" });
 * await runWithLease(transport, { name: "demo", job: job("b"), signal, once: true, owner: "b" });
 * assert.deepEqual(runs, ["a", "b"]); // released when done, so b could take it
 * transport.close();
 * ```
 */
export async function runWithLease(transport: Transport, options: LeasedJob): Promise<void> {
  const { name, job } = options;
  const ttlMs = options.ttlMs ?? 5000;
  const owner = options.owner ?? crypto.randomUUID();
  const { signal } = options;
  while (!signal.aborted) {
    let hold: LeaseHold | undefined;
    try {
      hold = await transport.acquireLease(name, owner, ttlMs);
    } catch {
      // The store is unavailable for a moment: try again later.
    }
    if (hold === undefined) {
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
        const renewed: LeaseHold | undefined = await transport.renewLease(hold, ttlMs);
        if (!renewed) break;
        hold = renewed;
      } catch {
        break;
      }
    }
    held.abort();
    signal.removeEventListener("abort", stopHolding);
    await running;
    try {
      await transport.releaseLease(hold);
    } catch {
      // The lease expires by itself.
    }
    if (completed && options.once) return;
    if (!signal.aborted) await sleep(ttlMs / 3, signal);
  }
}
