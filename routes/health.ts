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
 * import { handleHealth } from "./health.ts";
 * console.assert(handleHealth().status === 200);
 * ```
 */
export function handleHealth(): Response {
  return text("ok\n");
}

/** Readiness: the store answers within a second and the broker runs; 503 with the reason otherwise. */
export async function handleReady(context: AppContext): Promise<Response> {
  if (context.hub.closing.aborted) return text("shutting down\n", 503);
  const reason = await context.hub.unready(1000);
  if (reason !== undefined) return text(`not ready: ${reason}\n`, 503);
  return text("ready\n");
}

/**
 * Metrics of the whole process in the Prometheus text format.
 *
 * @example
 * ```ts
 * import { handleMetrics } from "./health.ts";
 * console.assert(typeof handleMetrics === "function");
 * ```
 */
export function handleMetrics(context: AppContext): Response {
  return text(context.metrics.render(), 200, "text/plain; version=0.0.4; charset=utf-8");
}
