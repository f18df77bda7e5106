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

/**
 * The key limits count a client by: its IPv4 address, or the /64 network of its IPv6 address (one
 * subscriber line holds a whole /64, so counting single IPv6 addresses would let a client
 * multiply its budget). An IPv4-mapped IPv6 address counts as its IPv4 address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientKeyOf } from "./client_ip.ts";
 * assert.equal(clientKeyOf("203.0.113.7"), "203.0.113.7");
 * assert.equal(clientKeyOf("2001:db8:0:1:aaaa::1"), "2001:db8:0:1::/64");
 * assert.equal(clientKeyOf("2001:db8::1"), "2001:db8:0:0::/64");
 * assert.equal(clientKeyOf("::ffff:198.51.100.2"), "198.51.100.2");
 * ```
 */
export function clientKeyOf(address: string): string {
  if (!address.includes(":")) return address;
  const lower = address.toLowerCase().replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return mapped[1];
  const [head, tail] = lower.split("::", 2);
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail === undefined ? [] : tail ? tail.split(":") : [];
  const missing = Math.max(0, 8 - headGroups.length - tailGroups.length);
  const groups = [...headGroups, ...Array(missing).fill("0"), ...tailGroups];
  const network = groups.slice(0, 4).map((group) => (group.replace(/^0+(?=.)/, "") || "0"));
  return `${network.join(":")}::/64`;
}

/**
 * The key limits count this request's client by ({@link clientKeyOf} its address).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientKey, rememberClientIp } from "./client_ip.ts";
 * const request = new Request("http://x/");
 * rememberClientIp(request, { hostname: "2001:db8::5", port: 1, transport: "tcp" });
 * assert.equal(clientKey(request), "2001:db8:0:0::/64");
 * ```
 */
export function clientKey(request: Request): string {
  return clientKeyOf(clientIp(request));
}
