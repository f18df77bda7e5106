/**
 * CORS for the origins of `TIDINGS_CORS_ORIGINS`. A listed origin is answered with itself and
 * `Access-Control-Allow-Credentials: true`, so cookie authorisation (`mercureAuthorization`) works
 * across origins. `*` means any origin without credentials (`Access-Control-Allow-Origin: *`): a
 * page elsewhere may read public streams, never with the user's cookie. The opaque origin `null`
 * (sandboxed frames, `file:` pages, some redirects) is never allowed.
 *
 * @module
 */

const ALLOWED_HEADERS = "authorization, content-type, last-event-id, cache-control";

/** What CORS grants one request: the `Access-Control-Allow-Origin` value and credentials or not. */
export interface CorsGrant {
  allowOrigin: string;
  credentials: boolean;
}

/**
 * What the configured origins grant a request's `Origin`: a listed origin gets itself with
 * credentials, any other (but `null`) gets `*` without credentials when `*` is configured;
 * otherwise nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { corsGrant } from "./cors.ts";
 * const origins = ["*", "https://app.example"];
 * assert.deepEqual(corsGrant("https://app.example", origins), {
 *   allowOrigin: "https://app.example",
 *   credentials: true,
 * });
 * assert.deepEqual(corsGrant("https://else.example", origins), { allowOrigin: "*", credentials: false });
 * assert.equal(corsGrant("null", origins), undefined);
 * ```
 */
export function corsGrant(origin: string | null, origins: string[]): CorsGrant | undefined {
  if (!origin || origin === "null" || origins.length === 0) return undefined;
  if (origins.includes(origin)) return { allowOrigin: origin, credentials: true };
  if (origins.includes("*")) return { allowOrigin: "*", credentials: false };
  return undefined;
}

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
 * assert.equal(response.headers.get("access-control-allow-credentials"), "true");
 * ```
 */
export function withCors(request: Request, response: Response, origins: string[]): Response {
  const origin = request.headers.get("origin");
  if (!origin || origins.length === 0) return response;
  const grant = corsGrant(origin, origins);
  try {
    // The answer depends on Origin whenever CORS is on: caches must keep one copy per origin.
    response.headers.append("vary", "origin");
    if (!grant) return response;
    response.headers.set("access-control-allow-origin", grant.allowOrigin);
    if (grant.credentials) response.headers.set("access-control-allow-credentials", "true");
    response.headers.set("access-control-expose-headers", "last-event-id, link, retry-after");
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
 * assert.equal(preflight(request, ["*"]).headers.get("access-control-allow-origin"), "*");
 * ```
 */
export function preflight(request: Request, origins: string[]): Response {
  const grant = corsGrant(request.headers.get("origin"), origins);
  if (!grant) {
    return new Response("origin not allowed by TIDINGS_CORS_ORIGINS\n", {
      status: 403,
      headers: { "content-type": "text/plain; charset=utf-8", "vary": "origin" },
    });
  }
  const headers: Record<string, string> = {
    "access-control-allow-origin": grant.allowOrigin,
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": ALLOWED_HEADERS,
    "access-control-max-age": "600",
    "vary": "origin",
  };
  if (grant.credentials) headers["access-control-allow-credentials"] = "true";
  return new Response(null, { status: 204, headers });
}
