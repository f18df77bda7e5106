/**
 * CORS for a configured list of origins (`TIDINGS_CORS_ORIGINS`), with credentials so cookie
 * authorisation (`mercureAuthorization`) works across origins.
 *
 * @module
 */

const ALLOWED_HEADERS = "authorization, content-type, last-event-id, cache-control";

/**
 * Adds CORS headers to a response when the request's origin is allowed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withCors } from "./cors.ts";
 * const request = new Request("http://hub/", { headers: { origin: "https://app.example" } });
 * const response = withCors(request, new Response("x"), ["https://app.example"]);
 * assert.equal(response.headers.get("access-control-allow-origin"), "https://app.example");
 * ```
 */
export function withCors(request: Request, response: Response, origins: string[]): Response {
  const origin = request.headers.get("origin");
  if (!origin || origins.length === 0) return response;
  if (!origins.includes("*") && !origins.includes(origin)) return response;
  try {
    response.headers.set("access-control-allow-origin", origin);
    response.headers.set("access-control-allow-credentials", "true");
    response.headers.set("access-control-expose-headers", "last-event-id, link, retry-after");
    response.headers.append("vary", "origin");
  } catch {
    // Immutable headers (e.g. a redirect): leave as is.
  }
  return response;
}

/**
 * Answers a CORS preflight: 204 with the allowed methods and headers for an allowed origin, 403
 * with the reason otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { preflight } from "./cors.ts";
 * const request = new Request("http://hub/", { method: "OPTIONS", headers: { origin: "https://a.example" } });
 * assert.equal(preflight(request, ["https://a.example"]).status, 204);
 * ```
 */
export function preflight(request: Request, origins: string[]): Response {
  const origin = request.headers.get("origin");
  if (!origin || (!origins.includes("*") && !origins.includes(origin))) {
    return new Response("origin not allowed by TIDINGS_CORS_ORIGINS\n", {
      status: 403,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-origin": origin,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-allow-headers": ALLOWED_HEADERS,
      "access-control-max-age": "600",
      "vary": "origin",
    },
  });
}
