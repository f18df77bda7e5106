/**
 * The client address of a request, remembered from `Deno.ServeHandlerInfo` at the entry point.
 *
 * @module
 */

const addresses = new WeakMap<Request, string>();

/**
 * Remembers where a request came from.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientIp, rememberClientIp } from "./client_ip.ts";
 * const request = new Request("http://x/");
 * rememberClientIp(request, { hostname: "127.0.0.1", port: 1, transport: "tcp" });
 * assert.equal(clientIp(request), "127.0.0.1");
 * ```
 */
export function rememberClientIp(request: Request, address: Deno.Addr): void {
  addresses.set(request, "hostname" in address ? address.hostname : "local");
}

/**
 * The remembered client address, or `"unknown"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientIp } from "./client_ip.ts";
 * assert.equal(clientIp(new Request("http://x/")), "unknown");
 * ```
 */
export function clientIp(request: Request): string {
  return addresses.get(request) ?? "unknown";
}
