/**
 * tidings: the composition root. `deno serve` (one isolate or `--parallel`) and Deno Deploy load
 * this module's default export; each isolate opens the KV store, the hub, the keys and the demo
 * feeds, then routes requests.
 *
 * @module
 */

import { loadConfigOrExit, refuseToStart } from "./lib/app/config.ts";
import type { AppContext } from "./lib/app/context.ts";
import { rememberClientIp } from "./lib/util/client_ip.ts";
import { preflight, withCors } from "./lib/app/cors.ts";
import { BadRequest, refuse } from "./lib/util/http_errors.ts";
import { checkedRequestUrl } from "./lib/util/request_host.ts";
import { Hub } from "./lib/hub/hub.ts";
import { openKvTransport } from "./lib/kv/open.ts";
import { log, setLogLevel } from "./lib/util/logger.ts";
import { Metrics } from "./lib/app/metrics.ts";
import { ConnectionBudget } from "./lib/hub/connection_budget.ts";
import { Admission } from "./lib/hub/admission.ts";
import { RateLimiter } from "./lib/app/rate_limit.ts";
import { loadAuthKeys } from "./lib/auth/auth_keys.ts";
import { startBackgroundJobs } from "./lib/app/background.ts";
import { printBanner } from "./lib/app/banner.ts";
import { handleSubscribe } from "./routes/subscribe.ts";
import { handlePublish } from "./routes/publish.ts";
import { handleSubscriptionsApi } from "./routes/subscriptions_api.ts";
import { handleFeed, joinDemoFeeds } from "./routes/feeds.ts";
import { handleCreateOrder, handleGetOrder } from "./routes/orders.ts";
import { handleTyping } from "./routes/chat.ts";
import { handleHealth, handleMetrics, handleReady } from "./routes/health.ts";
import { serveStatic } from "./routes/static.ts";
import { serveClientLibrary } from "./routes/client_library.ts";
import { maybeCompress } from "./lib/sse/compression.ts";
import { handleWebSocket, isWebSocketUpgrade } from "./routes/websocket.ts";

const config = loadConfigOrExit();
setLogLevel(config.logLevel);

const transport = await openKvTransport({
  path: config.kvPath,
  idTtlMs: config.historyMaxAgeSeconds * 1000,
  refuse: refuseToStart,
});
// The in-memory tail never holds more of a topic than retention keeps of it.
const hub = await Hub.open(transport, {
  tail: { topicUpdates: Math.min(128, config.historySize) },
});
const metrics = new Metrics();
metrics.sources.push(() => {
  const stats = hub.stats();
  return {
    events_committed_total: stats.appendedEvents,
    kv_commits_total: stats.appends,
    kv_commit_conflicts_total: stats.appendMisses,
    broker_delivered_total: stats.delivered,
    broker_gaps_filled_total: stats.gapsFilled,
    broker_gap_events_total: stats.gapEvents,
    broker_duplicates_dropped_total: stats.duplicatesDropped,
    replays_total: stats.replays,
  };
});
metrics.topicSource = () => hub.topicCounts(50);
hub.onAppendTimed((ms) => metrics.histograms.kv_commit_latency_ms.observe(ms));
const { keys: auth, devToken } = await loadAuthKeys(config, hub.records).catch(refuseToStart);
const budget = new ConnectionBudget(transport.shares, config);
metrics.sources.push(() => ({
  connection_budget_commits_total: budget.stats.commits,
  connection_budget_conflicts_total: budget.stats.conflicts,
  connection_budget_reclaims_total: budget.stats.reclaims,
}));
const admission = new Admission({
  hub,
  budget,
  subscriptionEvents: config.subscriptionEvents,
  subscriberBufferBytes: config.subscriberBufferBytes,
  observer: {
    opened: (ip) => metrics.connectionOpened(ip),
    closed: (ip) => metrics.connectionClosed(ip),
    refused: (reason) => metrics.count(`refusals_total{reason="${reason}"}`),
    delivered: (count) => metrics.delivered += count,
    stalled: () => metrics.count("slow_consumer_disconnects_total"),
  },
});
// The demo feeds' topics are public; other topics' subscriber counts need TIDINGS_METRICS_TOKEN.
if (config.demoFeeds) metrics.publicTopics = new Set(["clock", "stocks", "system", "chat"]);
const context: AppContext = { config, hub, auth, metrics, admission };
const rateLimiter = new RateLimiter(config.publishRatePerSecond);
startBackgroundJobs(context);
printBanner(config, devToken);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log("info", "shutting down", { signal, connections: metrics.connections });
  hub.beginShutdown();
  // Hand the connection budget back, so the KV file keeps no share of a process that is gone.
  await Promise.race([budget.retire(), new Promise((resolve) => setTimeout(resolve, 500))]);
  await hub.flush(3500); // Deno Deploy allows 5 s between SIGINT and SIGKILL
  await new Promise((resolve) => setTimeout(resolve, 150)); // let the last responses go out
  hub.close();
  transport.close();
  Deno.exit(0);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  try {
    Deno.addSignalListener(signal, () => void shutdown(signal));
  } catch {
    // Platforms without signals (or Deploy's own handling).
  }
}

const MAX_URL_LENGTH = 8192;
const MAX_HEADER_BYTES = 16_384;

function route(request: Request): Response | Promise<Response> {
  if (request.url.length > MAX_URL_LENGTH) {
    return refuse(414, `URL longer than ${MAX_URL_LENGTH} bytes`);
  }
  let headerBytes = 0;
  for (const [name, value] of request.headers) headerBytes += name.length + value.length + 4;
  if (headerBytes > MAX_HEADER_BYTES) {
    return refuse(431, `headers larger than ${MAX_HEADER_BYTES} bytes`);
  }
  // Routes on the request target's path alone: a Host that could move it is a 400.
  const path = checkedRequestUrl(request).pathname;
  const method = request.method;
  if (method === "OPTIONS") return preflight(request, config.corsOrigins);
  if (hub.closing.aborted && path !== "/healthz") {
    return refuse(503, "shutting down: reconnect in a moment", { "retry-after": "1" });
  }
  if (path === "/.well-known/mercure") {
    if (method === "GET") {
      return isWebSocketUpgrade(request)
        ? handleWebSocket(request, context)
        : handleSubscribe(request, context, config.demoFeeds ? joinDemoFeeds : undefined);
    }
    if (method === "POST") return handlePublish(request, context, rateLimiter);
    return refuse(405, "use GET to subscribe or POST to publish", { allow: "GET, POST, OPTIONS" });
  }
  if (method === "GET" && path.startsWith("/.well-known/mercure/subscriptions")) {
    return handleSubscriptionsApi(request, context);
  }
  if (path.startsWith("/feeds/")) {
    if (method !== "GET") return refuse(405, "feeds are read with GET", { allow: "GET" });
    return handleFeed(request, context, path.slice("/feeds/".length));
  }
  if (path === "/orders") {
    if (method !== "POST") return refuse(405, "create an order with POST", { allow: "POST" });
    return handleCreateOrder(request, context);
  }
  if (path.startsWith("/orders/") && method === "GET") {
    return handleGetOrder(context, path.slice("/orders/".length));
  }
  if (path === "/chat/typing") {
    if (method !== "POST") return refuse(405, "post typing notifications", { allow: "POST" });
    return handleTyping(request, context);
  }
  if (path === "/healthz") return handleHealth();
  if (path === "/readyz") return handleReady(context);
  if (path === "/metrics") return handleMetrics(request, context);
  if (method !== "GET" && method !== "HEAD") {
    return refuse(405, "method not allowed", { allow: "GET" });
  }
  if (path === "/client.js" || path.startsWith("/client/")) {
    return serveClientLibrary(path).then((library) => library ?? serveStatic(path));
  }
  return serveStatic(path);
}

function pathForLog(request: Request): string {
  try {
    return checkedRequestUrl(request).pathname;
  } catch {
    return "(invalid authority)";
  }
}

/** The request handler: `deno serve`, `deno serve --parallel` and Deno Deploy call it. */
async function fetch(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
  rememberClientIp(request, info.remoteAddr);
  let response: Response;
  try {
    response = await route(request);
  } catch (error) {
    if (error instanceof BadRequest) {
      metrics.count(`refusals_total{reason="${error.status}"}`);
      log("info", "refused", {
        status: error.status,
        reason: error.message,
        path: pathForLog(request),
      });
      response = refuse(error.status, error.message, error.headers);
    } else {
      log("error", "request failed", { error: String(error), stack: (error as Error)?.stack });
      response = refuse(500, "internal error");
    }
  }
  if (response.status !== 101) {
    response = withCors(request, response, config.corsOrigins);
    if (config.compression) response = maybeCompress(request, response);
  }
  return response;
}

export default { fetch } satisfies Deno.ServeDefaultExport;
