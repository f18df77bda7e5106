/**
 * The cross-site request forgery rule for the `mercureAuthorization` cookie, as Mercure applies
 * it. A browser attaches the cookie to requests that any site starts (a plain HTML form can POST
 * to the hub), so a request authenticated by the cookie must say where it comes from: its
 * `Origin`, or lacking one the origin of its `Referer`, must be an allowed origin, else it is
 * refused. Tokens from the `Authorization` header or the `authorization` query parameter are never
 * attached by a browser on its own, and are not checked.
 *
 * The allowed origins: the hub's own origin (see `request_host.ts`), plus `TIDINGS_PUBLISH_ORIGINS`
 * when set, else the origins listed in `TIDINGS_CORS_ORIGINS` (not its `*`, which grants no
 * credentials). `*` in `TIDINGS_PUBLISH_ORIGINS` allows any origin (an `Origin` or `Referer` is still
 * required). The opaque origin `null` is never allowed.
 *
 * @module
 */

import type { Config } from "./config.ts";
import { extractToken } from "../auth/mercure_auth.ts";
import { ownOrigin } from "../util/request_host.ts";

const normalised = new WeakMap<object, readonly string[]>();

/**
 * The configured origins a cookie-authenticated request may come from (the hub's own origin is
 * added per request), normalised as browsers send them (`https://app.example`, no default port).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cookieOrigins } from "./cookie_origin.ts";
 * const corsOnly = { publishOrigins: [], corsOrigins: ["*", "https://App.example:443"] };
 * assert.deepEqual(cookieOrigins(corsOnly), ["https://app.example"]);
 * const explicit = { publishOrigins: ["https://admin.example"], corsOrigins: ["https://app.example"] };
 * assert.deepEqual(cookieOrigins(explicit), ["https://admin.example"]);
 * ```
 */
export function cookieOrigins(
  config: Pick<Config, "publishOrigins" | "corsOrigins">,
): readonly string[] {
  let origins = normalised.get(config);
  if (origins === undefined) {
    const listed = config.publishOrigins.length > 0
      ? config.publishOrigins
      : config.corsOrigins.filter((origin) => origin !== "*");
    origins = listed.map((origin) => origin === "*" ? origin : normaliseOrigin(origin) ?? origin);
    normalised.set(config, origins);
  }
  return origins;
}

/**
 * Why a request authenticated by the `mercureAuthorization` cookie may not be served, or
 * `undefined` when its token does not come from the cookie or its origin is allowed: the hub's
 * own origin, or one of `allowed` (`*` = any).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crossSiteCookieRefusal } from "./cookie_origin.ts";
 * const post = (headers: Record<string, string>) =>
 *   new Request("http://hub.example/.well-known/mercure", { method: "POST", headers });
 * const cookie = "mercureAuthorization=a.b.c";
 * assert.equal(crossSiteCookieRefusal(post({ cookie, origin: "http://hub.example" }), []), undefined);
 * assert.match(crossSiteCookieRefusal(post({ cookie, origin: "https://evil.example" }), [])!, /evil/);
 * assert.match(crossSiteCookieRefusal(post({ cookie }), [])!, /needs an Origin or Referer/);
 * assert.equal(crossSiteCookieRefusal(post({ authorization: "Bearer a.b.c" }), []), undefined);
 * ```
 */
export function crossSiteCookieRefusal(
  request: Request,
  allowed: readonly string[],
): string | undefined {
  let source;
  try {
    source = extractToken(request)?.source;
  } catch {
    return undefined; // a malformed Authorization header: authorisation refuses it (401)
  }
  if (source !== "cookie") return undefined;
  const header = request.headers.get("origin");
  const referer = request.headers.get("referer");
  if (!header && !referer) {
    return "a request authenticated by the mercureAuthorization cookie needs an Origin or " +
      "Referer header (or send the token in the Authorization header)";
  }
  const origin = header ? normaliseOrigin(header) : normaliseOrigin(referer!);
  if (origin !== undefined) {
    if (origin === ownOrigin(request) || allowed.includes("*") || allowed.includes(origin)) {
      return undefined;
    }
  }
  const named = JSON.stringify((origin ?? (header || referer!)).slice(0, 100));
  return `${header ? "origin" : "Referer origin"} ${named} may not use the ` +
    "mercureAuthorization cookie: allow it in TIDINGS_PUBLISH_ORIGINS";
}

/** The origin of an http(s) URL or origin string, as browsers serialise it; undefined otherwise. */
function normaliseOrigin(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return url.origin;
  } catch {
    return undefined; // `null` among others
  }
}
