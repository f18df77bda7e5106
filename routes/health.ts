/**
 * `/healthz` (alive), `/readyz` (KV reachable and broker running) and `/metrics` (Prometheus).
 *
 * @module
 */

import type { AppContext } from "../lib/app/context.ts";

const text = (body: string, status = 200, type = "text/plain; charset=utf-8") =>
  new Response(body, { status, headers: { "content-type": type, "cache-control": "no-store" } });

/**
 * Liveness: the isolate answers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { handleHealth } from "./health.ts";
 * const response = handleHealth();
 * assert.deepEqual([response.status, await response.text()], [200, "ok\n"]);
 * ```
 */
export function handleHealth(): Response {
  return text("ok\n");
}

/**
 * Readiness: KV answers within a second and the broker runs; 503 with the reason otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { handleReady } from "./health.ts";
 * import { Hub } from "../lib/hub/hub.ts";
 * import type { AppContext } from "../lib/app/context.ts";
 * const kv = await Deno.openKv(":memory:");
 * const hub = await Hub.open(kv);
 * const context = { hub } as AppContext; // readiness looks only at the hub
 * assert.equal(await (await handleReady(context)).text(), "ready\n");
 * hub.beginShutdown();
 * const draining = await handleReady(context);
 * assert.deepEqual([draining.status, await draining.text()], [503, "shutting down\n"]);
 * hub.close();
 * kv.close();
 * ```
 */
export async function handleReady(context: AppContext): Promise<Response> {
  if (context.hub.closing.aborted) return text("shutting down\n", 503);
  if (!context.hub.broker.running) return text("broker stopped\n", 503);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("KV did not answer within 1 s")), 1000);
    });
    await Promise.race([context.hub.log.headSeq(), timeout]);
  } catch (error) {
    return text(`KV unreachable: ${(error as Error).message}\n`, 503);
  } finally {
    clearTimeout(timer);
  }
  return text("ready\n");
}

/**
 * Metrics of the whole process in the Prometheus text format.
 */
export function handleMetrics(context: AppContext): Response {
  return text(context.metrics.render(), 200, "text/plain; version=0.0.4; charset=utf-8");
}
