/**
 * Test support for the HTTP/1.1 server: start one on an ephemeral loopback port, and the raw TCP
 * client (`raw_http.ts`) that sends exact bytes and reads whole responses.
 *
 * @module
 */

import {
  type Http1Handler,
  type Http1ServeOptions,
  type Http1Server,
  serveHttp1,
} from "../../lib/http1/server.ts";

/**
 * Serves `handler` on 127.0.0.1 with an ephemeral port.
 *
 * @example
 * ```ts
 * import { start } from "./http1_client.ts";
 * const server = start(() => new Response("ok"));
 * await server.shutdown();
 * ```
 */
export function start(
  handler: Http1Handler,
  options: Partial<Http1ServeOptions> = {},
): Http1Server {
  return serveHttp1({ port: 0, hostname: "127.0.0.1", ...options }, handler);
}

/**
 * The raw TCP client of the tests: the shared byte-level HTTP/1.1 client of `raw_http.ts`, which
 * frames bodies by their head and tells a reset (it throws) from a clean close (`rest()` is `""`).
 */
export { RawClient } from "./raw_http.ts";

/**
 * A handler answering `METHOD URL[:body]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { echo } from "./http1_client.ts";
 * const response = await echo(new Request("http://h/x"), { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } });
 * assert.ok((await response.text()) === "GET http://h/x");
 * ```
 */
export const echo: Http1Handler = async (request) => {
  const body = request.body === null ? "" : `:${await request.text()}`;
  return new Response(`${request.method} ${request.url}${body}`);
};
