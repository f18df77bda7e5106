/**
 * Every route of tidings, in one table: the path, and a handler per method. `main.ts` checks the
 * request (size, `Host`, preflight, shutdown) and hands it to the router built from this table;
 * anything no route names is the dashboard's static files or the client library.
 *
 * @module
 */

import type { AppContext } from "../lib/app/context.ts";
import { type Route, Router } from "../lib/app/router.ts";
import { refuse } from "../lib/util/http_errors.ts";
import { handleTyping } from "./chat.ts";
import { serveClientLibrary } from "./client_library.ts";
import { handleFeed, joinDemoFeeds } from "./feeds.ts";
import { handleHealth, handleMetrics, handleReady } from "./health.ts";
import { handleCreateOrder, handleGetOrder } from "./orders.ts";
import { handlePublish } from "./publish.ts";
import { serveStatic } from "./static.ts";
import { handleSubscribe } from "./subscribe.ts";
import { handleSubscriptionsApi } from "./subscriptions_api.ts";
import { handleWebSocket, isWebSocketUpgrade } from "./websocket.ts";

/** The routes. */
export const ROUTES: readonly Route<AppContext>[] = [
  {
    path: "/.well-known/mercure",
    methods: {
      GET: (request, context) =>
        isWebSocketUpgrade(request)
          ? handleWebSocket(request, context)
          : handleSubscribe(request, context, context.config.demoFeeds ? joinDemoFeeds : undefined),
      POST: handlePublish,
    },
    methodHint: "use GET to subscribe or POST to publish",
  },
  { path: "/.well-known/mercure/subscriptions", methods: { GET: handleSubscriptionsApi } },
  { path: "/.well-known/mercure/subscriptions/", methods: { GET: handleSubscriptionsApi } },
  { path: "/feeds/", methods: { GET: handleFeed }, methodHint: "feeds are read with GET" },
  {
    path: "/orders",
    methods: { POST: handleCreateOrder },
    methodHint: "create an order with POST",
  },
  { path: "/orders/", methods: { GET: handleGetOrder }, methodHint: "read an order with GET" },
  {
    path: "/chat/typing",
    methods: { POST: handleTyping },
    methodHint: "post typing notifications",
  },
  { path: "/healthz", methods: { GET: handleHealth } },
  { path: "/readyz", methods: { GET: handleReady } },
  { path: "/metrics", methods: { GET: handleMetrics } },
];

/** Everything else: the client library's modules, then the dashboard's files (GET and HEAD). */
function staticFiles(request: Request, _context: AppContext, { path }: { path: string }) {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return refuse(405, "method not allowed", { allow: "GET, HEAD" });
  }
  if (path === "/client.js" || path.startsWith("/client/")) {
    return serveClientLibrary(path).then((library) => library ?? serveStatic(path));
  }
  return serveStatic(path);
}

/** The router of every route. */
export const router: Router<AppContext> = new Router(ROUTES, staticFiles);
