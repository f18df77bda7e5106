/**
 * The authority a request names, checked before anything routes on its URL. `deno serve` builds
 * `request.url` as `http://<Host header><target>`, so a `Host` such as `127.0.0.1/metrics?` would
 * move the path (`GET /healthz` read as `/metrics?/healthz`). A `Host` (and the authority of the
 * URL) must be a plain `host[:port]`: a name of letters, digits, `.`, `_` and `-`, an IPv4
 * address or a bracketed IPv6 address, and a port of at most 65535. Anything else is a 400.
 *
 * The hub's own origin is the scheme and authority of the URL so checked: what the request was
 * sent to, as received. Behind a proxy that terminates TLS or rewrites `Host`, that is the proxy's
 * view of the upstream, not the browser's: `X-Forwarded-*` headers are not trusted.
 *
 * @module
 */

import { BadRequest } from "./http_errors.ts";

const HOST_PORT = /^(?:[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::(\d{1,5}))?$/;
const URL_AUTHORITY = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#\\]*)(?:[/?]|$)/;

/**
 * Whether a `Host` value is a plain `host[:port]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidHost } from "./request_host.ts";
 * assert.ok(isValidHost("hub.example:8000") && isValidHost("[::1]:80") && isValidHost("10.0.0.1"));
 * assert.ok(!isValidHost("127.0.0.1/metrics?") && !isValidHost("a@b") && !isValidHost("a:99999"));
 * ```
 */
export function isValidHost(value: string): boolean {
  const match = HOST_PORT.exec(value);
  return match !== null && (match[1] === undefined || Number(match[1]) <= 65535);
}

/**
 * The request's URL, once its `Host` header (when present and not empty) and the authority of
 * `request.url` are plain `host[:port]`s, so its path and query are the request target's.
 *
 * @throws {BadRequest} 400 when the `Host` header or the URL's authority is not `host[:port]`, or
 * the target holds a fragment (`#`, which browsers never send).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkedRequestUrl } from "./request_host.ts";
 * assert.equal(checkedRequestUrl(new Request("http://hub:8000/healthz")).pathname, "/healthz");
 * const forged = new Request("http://127.0.0.1/metrics?/healthz", {
 *   headers: { host: "127.0.0.1/metrics?" },
 * });
 * assert.throws(() => checkedRequestUrl(forged), /invalid Host header/);
 * ```
 */
export function checkedRequestUrl(request: Request): URL {
  const host = request.headers.get("host");
  if (host !== null && host !== "" && !isValidHost(host)) {
    throw new BadRequest(400, "invalid Host header: expected host[:port]");
  }
  const authority = URL_AUTHORITY.exec(request.url)?.[1];
  if (authority === undefined || !isValidHost(authority)) {
    throw new BadRequest(400, "invalid request authority: expected host[:port]");
  }
  if (request.url.includes("#")) throw new BadRequest(400, "request target must not contain #");
  try {
    return new URL(request.url);
  } catch {
    throw new BadRequest(400, "invalid request authority: expected host[:port]");
  }
}

/**
 * The hub's own origin for a request whose URL {@link checkedRequestUrl} accepted: the scheme and
 * `host[:port]` the request was sent to, as the hub received it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ownOrigin } from "./request_host.ts";
 * assert.equal(ownOrigin(new Request("http://Hub.example:80/x")), "http://hub.example");
 * ```
 */
export function ownOrigin(request: Request): string {
  return new URL(request.url).origin;
}
