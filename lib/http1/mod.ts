/**
 * The direct listener: a lean HTTP/1.1 server on `Deno.listen` serving a `fetch`-style handler,
 * with keep-alive, pipelining, chunked bodies, RFC 9112 strictness, timeouts, write deadlines,
 * cheap refusals past a connection limit, and a take-over of the raw connection for responses that
 * write their own body. Code outside `lib/http1/` imports from here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveHttp1 } from "./mod.ts";
 * const server = serveHttp1({ port: 0, hostname: "127.0.0.1" }, () => new Response("hi\n"));
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * assert.equal(await response.text(), "hi\n");
 * await server.shutdown();
 * ```
 *
 * @module
 */

export * from "./server.ts";
