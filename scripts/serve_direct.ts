/**
 * The direct listener: serves tidings on its own HTTP/1.1 server (`lib/http1_server.ts` on
 * `Deno.listen`) instead of `Deno.serve`, in one isolate, for self-hosting. Event streams are
 * written straight to their connections (`lib/direct_stream.ts`), which costs a fraction of the
 * memory and CPU per subscriber; every other request goes through the same handler as under
 * `deno serve`. Not for Deno Deploy, and without WebSocket (clients stay on SSE).
 *
 * ```sh
 * deno task start:direct        # or: deno run <permissions> scripts/serve_direct.ts
 * ```
 *
 * @module
 */

import app from "../main.ts";
import { loadConfigOrExit } from "../lib/app/config.ts";
import { serveDirectly, takeOverDirectStream } from "../lib/sse/mod.ts";
import { serveHttp1 } from "../lib/http1/mod.ts";
import { listenerHeadroom } from "../lib/util/descriptor_limit.ts";

const config = loadConfigOrExit();
const completed = Promise.resolve();

serveHttp1({
  port: config.port,
  hostname: config.hostname,
  takeOver: takeOverDirectStream,
  // Subscriptions are limited by TIDINGS_MAX_CONNECTIONS (503 from the route); the listener keeps
  // a little headroom for other requests, then refuses sockets before reading them.
  maxConnections: config.maxConnections + listenerHeadroom(config.fileDescriptorLimit),
  onListen: ({ hostname, port }) => console.log(`Listening on http://${hostname}:${port}/`),
}, (request, info) => {
  serveDirectly(request);
  return app.fetch(request, { remoteAddr: info.remoteAddr, completed });
});
