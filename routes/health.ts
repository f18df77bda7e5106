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
 * Readiness: the store answers within a second and the broker runs; 503 with the reason otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { handleReady } from "./health.ts";
 * import { Hub } from "../lib/hub/mod.ts";
 * import { KvTransport } from "../lib/kv/kv_transport.ts";
 * import type { AppContext } from "../lib/app/context.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const hub = await Hub.open(transport);
 * const context = { hub } as AppContext; // readiness looks only at the hub
 * assert.equal(await (await handleReady(new Request("http://hub/readyz"), context)).text(), "ready\n");
 * hub.beginShutdown();
 * const draining = await handleReady(new Request("http://hub/readyz"), context);
 * assert.deepEqual([draining.status, await draining.text()], [503, "shutting down\n"]);
 * hub.close();
 * transport.close();
 * ```
 */
export async function handleReady(_request: Request, context: AppContext): Promise<Response> {
  if (context.hub.closing.aborted) return text("shutting down\n", 503);
  const reason = await context.hub.unready(1000);
  if (reason !== undefined) return text(`not ready: ${reason}\n`, 503);
  return text("ready\n");
}

/**
 * Metrics of the whole process in the Prometheus text format. Subscribers per topic are shown
 * for the public topics (the demo feeds) only, unless the request carries
 * `Authorization: Bearer <TIDINGS_METRICS_TOKEN>`; a wrong token gets 401.
 */
export function handleMetrics(request: Request, context: AppContext): Response {
  const expected = context.config.metricsToken;
  const given = /^Bearer (.+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
  if (expected !== undefined && given !== undefined && !sameSecret(given, expected)) {
    return new Response("wrong metrics token\n", {
      status: 401,
      headers: {
        "content-type": "text/plain; charset=utf-8",
        "cache-control": "no-store",
        "www-authenticate": 'Bearer realm="tidings metrics"',
      },
    });
  }
  const allTopics = expected !== undefined && given !== undefined;
  return text(
    context.metrics.render({ allTopics }),
    200,
    "text/plain; version=0.0.4; charset=utf-8",
  );
}

/** Compares two secrets in time that does not depend on where they differ. */
function sameSecret(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) difference |= (a[i] ?? 0) ^ b[i];
  return difference === 0;
}
