/**
 * tidings: the composition root. `deno serve` (one isolate or `--parallel`) and Deno Deploy load
 * this module's default export; each isolate opens the KV store, the hub, the keys and the demo
 * feeds, then routes requests.
 *
 * @module
 */

import { loadConfigOrExit, refuseToStart } from "./lib/app/config.ts";
import type { AppContext } from "./lib/app/context.ts";
import { router } from "./routes/table.ts";
import { rememberClientIp } from "./lib/util/client_ip.ts";
import { preflight, withCors } from "./lib/app/cors.ts";
import { BadRequest, refuse } from "./lib/util/http_errors.ts";
import { checkedRequestUrl } from "./lib/util/request_host.ts";
import {
  Admission,
  ConnectionBudget,
  Hub,
  RecordShareLedger,
  type Transport,
} from "./lib/hub/mod.ts";
import { openKvTransport } from "./lib/kv/open.ts";
import { openRedisTransport } from "./lib/redis/open.ts";
import { log, setLogLevel } from "./lib/util/logger.ts";
import { Metrics } from "./lib/app/metrics.ts";
import { PublishRateLimit } from "./lib/app/rate_limit.ts";
import { liveFiniteFeeds } from "./lib/feeds/producers.ts";
import { loadAuthKeys } from "./lib/auth/auth_keys.ts";
import { startBackgroundJobs } from "./lib/app/background.ts";
import { printBanner } from "./lib/app/banner.ts";
import { maybeCompress } from "./lib/sse/mod.ts";
import { recoverServeLoop, rememberServeAddress } from "./lib/app/serve_recovery.ts";

const config = loadConfigOrExit();
setLogLevel(config.logLevel);

// TIDINGS_REDIS_URL: every node shares one Redis; otherwise the Deno KV store.
const transport: Transport = config.redisUrl
  ? await openRedisTransport({
    url: config.redisUrl,
    idTtlMs: config.historyMaxAgeSeconds * 1000,
    waitReplicas: config.redisWaitReplicas,
    refuse: refuseToStart,
  })
  : await openKvTransport({
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
const budget = new ConnectionBudget(new RecordShareLedger(hub.records), config);
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
metrics.sources.push(() => ({
  orders_live: liveFiniteFeeds("orders"),
  games_live: liveFiniteFeeds("games"),
}));
const publishRate = new PublishRateLimit(hub.records, config.publishRatePerSecond);
const context: AppContext = { config, hub, auth, metrics, admission, publishRate };
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
  // forEach, not for…of: Deno's header iterator costs about 8 µs a request, forEach 1.5 µs.
  request.headers.forEach((value, name) => headerBytes += name.length + value.length + 4);
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
  return router.route(request, context, path);
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

// Running out of file descriptors ends Deno's serve loop with an unhandled rejection: survive it,
// keep the open connections, listen again (lib/serve_recovery.ts).
recoverServeLoop(fetch);

export default { fetch, onListen: rememberServeAddress } satisfies Deno.ServeDefaultExport;
