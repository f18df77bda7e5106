/**
 * `GET /.well-known/mercure?topic=…`: a Mercure subscription as an event stream.
 *
 * Also serves the friendly `/feeds/...` aliases through {@link openStream}, which takes the
 * already-decided selectors and resume point.
 *
 * @module
 */

import { openSubscription } from "../lib/hub/active_subscriptions.ts";
import type { AppContext } from "../lib/app/context.ts";
import { parseDataFilter } from "../lib/hub/data_filter.ts";
import { BadRequest, refuse } from "../lib/util/http_errors.ts";
import { clientIp } from "../lib/util/client_ip.ts";
import { JwtError } from "../lib/auth/jwt.ts";
import { log } from "../lib/util/logger.ts";
import { authorize, canReceivePrivate, type MercureClaims } from "../lib/auth/mercure_auth.ts";
import { ssePushResponse } from "../lib/sse/response.ts";
import { encodeEventBytes } from "../lib/sse/encoder.ts";
import type { StoredUpdate } from "../lib/hub/update.ts";
import type { SubscriptionOptions } from "../lib/hub/subscription.ts";
import type { Hub } from "../lib/hub/hub.ts";
import type { SseSink } from "../lib/sse/response.ts";
import { InvalidSelectorError, matchesSelector, SelectorSet } from "../lib/topics/topic_selector.ts";

/** The selectors of a set as given (exact topics, then patterns). */
function selectorSources(selectors: SelectorSet): string[] {
  return [...selectors.exactTopics, ...selectors.patterns.map((pattern) => pattern.source)];
}

/** How a stream should start, decided by the route. */
export interface StreamPlan {
  selectors: SelectorSet;
  claims: MercureClaims | undefined;
  /** Replay after this position; undefined = live only. */
  afterSeq?: number;
  /** Value of the `Last-Event-ID` response header, when the request asked to resume. */
  resumedFrom?: string;
  /** Extra data for the active-subscription records (e.g. the chat user name). */
  payload?: unknown;
  /** Ends the stream after this update. */
  isFinal?: (update: StoredUpdate) => boolean;
}

/**
 * The `Last-Event-ID` a request asks to resume from: the header wins over the `lastEventID` query
 * parameter.
 *
 * @example
 * ```ts
 * import { requestedLastEventId } from "./subscribe.ts";
 * const request = new Request("http://x/?lastEventID=a", { headers: { "last-event-id": "b" } });
 * console.assert(requestedLastEventId(request, new URL(request.url)) === "b");
 * ```
 */
export function requestedLastEventId(request: Request, url: URL): string | undefined {
  return request.headers.get("last-event-id") ?? url.searchParams.get("lastEventID") ?? undefined;
}

/**
 * Authorises a subscriber: its claims, or a refusal (401) when the token is bad or anonymous
 * access is off.
 *
 * @example
 * ```ts
 * import { authorizeSubscriber } from "./subscribe.ts";
 * console.assert(typeof authorizeSubscriber === "function");
 * ```
 */
export async function authorizeSubscriber(
  request: Request,
  context: AppContext,
): Promise<MercureClaims | undefined> {
  let claims: MercureClaims | undefined;
  try {
    claims = await authorize(request, "subscriber", context.auth);
  } catch (error) {
    if (error instanceof JwtError) throw new BadRequest(401, `invalid token: ${error.reason}`);
    throw error;
  }
  if (!claims && !context.config.anonymousSubscribers) {
    throw new BadRequest(401, "anonymous subscriptions are disabled: present a subscriber token");
  }
  return claims;
}

/**
 * Decides a Mercure subscription's selectors, claims and resume point from the request, or
 * refuses it (400 for bad selectors, 401 for bad tokens).
 *
 * @example
 * ```ts
 * import { planMercureSubscription } from "./subscribe.ts";
 * console.assert(typeof planMercureSubscription === "function");
 * ```
 */
export async function planMercureSubscription(
  request: Request,
  context: AppContext,
): Promise<StreamPlan | Response> {
  const url = new URL(request.url);
  const topics = url.searchParams.getAll("topic");
  if (topics.length === 0) return refuse(400, "missing topic: add at least one ?topic= selector");
  if (topics.length > 64) return refuse(400, "too many topic selectors (at most 64)");
  if (topics.some((topic) => topic.length > 1024)) {
    return refuse(400, "topic selector longer than 1024 characters");
  }
  let selectors: SelectorSet;
  try {
    selectors = new SelectorSet(topics);
  } catch (error) {
    if (error instanceof InvalidSelectorError) {
      return refuse(400, `bad topic selector: ${error.message}`);
    }
    throw error;
  }
  const claims = await authorizeSubscriber(request, context);
  const plan: StreamPlan = { selectors, claims };
  const lastEventId = requestedLastEventId(request, url);
  if (lastEventId !== undefined) {
    const point = await context.hub.resumePoint(lastEventId, selectors, claims);
    plan.afterSeq = point.afterSeq;
    plan.resumedFrom = point.resumedFrom;
  }
  return plan;
}

/**
 * Handles the Mercure subscription request (event stream).
 *
 * @example
 * ```ts
 * import { handleSubscribe } from "./subscribe.ts";
 * console.assert(typeof handleSubscribe === "function");
 * ```
 */
export async function handleSubscribe(request: Request, context: AppContext): Promise<Response> {
  const plan = await planMercureSubscription(request, context);
  return plan instanceof Response ? plan : openStream(request, context, plan);
}

/** A subscription admitted and registered, ready for a transport. */
export interface PreparedSubscription {
  /**
   * Options for `hub.subscribe*()`, given how the transport drops the connection at once (a
   * stalled client). Their signal aborts at shutdown, at token expiry and on `release()`.
   */
  options(drop: () => void): SubscriptionOptions;
  /** Response headers (discovery `Link`, `Last-Event-ID`). */
  headers: Record<string, string>;
  /** Ends the subscription, releases the connection slot and ends the active-subscription records. */
  release(): void;
}

/**
 * Admits a planned subscription: connection limits, `?throttle=`, `?filter=`, the private-update
 * rule, token expiry and the active-subscription records. Returns a refusal when it cannot.
 *
 * @example
 * ```ts
 * import { prepareSubscription } from "./subscribe.ts";
 * console.assert(typeof prepareSubscription === "function");
 * ```
 */
export function prepareSubscription(
  request: Request,
  context: AppContext,
  plan: StreamPlan,
): PreparedSubscription | Response {
  const { hub, config, metrics } = context;
  const url = new URL(request.url);
  const throttleRaw = url.searchParams.get("throttle");
  let throttleMs: number | undefined;
  if (throttleRaw !== null) {
    throttleMs = Number(throttleRaw);
    if (!/^\d+$/.test(throttleRaw) || throttleMs < 1 || throttleMs > 3_600_000) {
      return refuse(400, "throttle must be an integer number of milliseconds from 1 to 3600000");
    }
  }
  const filter = parseDataFilter(url.searchParams.getAll("filter"));
  const claims = plan.claims;
  const accepts = (update: StoredUpdate) =>
    (!update.private || canReceivePrivate(claims, update.topics, matchesSelector)) &&
    (filter === undefined || filter(update));

  const ip = clientIp(request);
  const open = metrics.processConnections(ip);
  if (open.total >= config.maxConnections) {
    metrics.count('refusals_total{reason="max_connections"}');
    log("warn", "connection refused", { reason: "max_connections", ip });
    return refuse(503, `connection limit reached (${config.maxConnections})`, {
      "retry-after": "5",
    });
  }
  if (open.forIp >= config.maxConnectionsPerIp) {
    metrics.count('refusals_total{reason="max_connections_per_ip"}');
    log("warn", "connection refused", { reason: "max_connections_per_ip", ip });
    return refuse(503, `per-client connection limit reached (${config.maxConnectionsPerIp})`, {
      "retry-after": "5",
    });
  }
  metrics.connectionOpened(ip);
  const subscriber = `urn:uuid:${crypto.randomUUID()}`;
  // Recorded in the background: the stream starts without waiting for these KV commits.
  const ends: Array<Promise<() => Promise<void>>> = [];
  // Chat presence reads these records too, so a named chat viewer is recorded either way.
  if (config.subscriptionEvents || plan.payload !== undefined) {
    for (const selector of selectorSources(plan.selectors)) {
      ends.push(
        openSubscription(hub, selector, subscriber, plan.payload).catch(() => () =>
          Promise.resolve()
        ),
      );
    }
  }
  // Graceful stops (shutdown, token expiry) end the subscription, and the stream after what it
  // already wrote; plain listeners and one timer, no composite signals held per connection.
  const stop = new AbortController();
  const stopNow = () => stop.abort();
  const forgetClosing = hub.onClosing(stopNow);
  let expiry: ReturnType<typeof setTimeout> | undefined;
  if (claims?.exp !== undefined) {
    const left = Math.max(0, claims.exp * 1000 - Date.now());
    // setTimeout cannot wait past 2^31 - 1 ms (~24.8 days); such a token outlives the process.
    if (left < 2 ** 31 - 1) Deno.unrefTimer(expiry = setTimeout(stopNow, left));
  }
  const headers: Record<string, string> = {
    link: `<${url.protocol}//${url.host}/.well-known/mercure>; rel="mercure"`,
  };
  if (plan.resumedFrom !== undefined) headers["last-event-id"] = plan.resumedFrom;
  log("info", "connection opened", {
    selectors: selectorSources(plan.selectors),
    ip,
    resume: plan.resumedFrom,
  });
  let released = false;
  return {
    headers,
    options: (drop) => {
      return {
        selectors: plan.selectors,
        afterSeq: plan.afterSeq,
        accepts,
        signal: stop.signal,
        throttleMs,
        maxQueuedBytes: config.subscriberBufferBytes,
        isFinal: plan.isFinal,
        onSent: (count) => metrics.delivered += count,
        onStalled: () => {
          metrics.count("slow_consumer_disconnects_total");
          log("info", "slow consumer disconnected", { ip });
          drop();
        },
      };
    },
    release: () => {
      if (released) return;
      released = true;
      // The transport is done (client gone, dropped or ended): so is the subscription.
      stop.abort();
      clearTimeout(expiry);
      forgetClosing();
      metrics.connectionClosed(ip);
      for (const end of ends) end.then((close) => close()).catch(() => {});
      log("info", "connection closed", { ip });
    },
  };
}

/**
 * Opens the event stream for a decided plan.
 *
 * @example
 * ```ts
 * import { openStream } from "./subscribe.ts";
 * console.assert(typeof openStream === "function");
 * ```
 */
export function openStream(
  request: Request,
  context: AppContext,
  plan: StreamPlan,
): Response {
  const prepared = prepareSubscription(request, context, plan);
  if (prepared instanceof Response) return prepared;
  const { hub, config } = context;
  const comeBack = encodeEventBytes({
    retry: config.retryMs,
    comment: "server restarting, come back",
  });
  // Returns the subscription's promise without awaiting it, so no suspended function stays
  // behind per connection; a throw still becomes a rejection.
  return ssePushResponse((sink) => {
    try {
      const options = prepared.options(() => sink.abort());
      // Throttled streams conflate in the generator; they never switch to push mode.
      const done = options.throttleMs
        ? streamThrottled(hub, options, sink)
        : hub.pushSubscription(options, sink);
      return done.then(() => {
        if (hub.closing.aborted) sink.write(comeBack);
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }, {
    request,
    heartbeatMs: config.heartbeatMs,
    retryMs: config.retryMs,
    headers: prepared.headers,
    bufferBytes: config.subscriberBufferBytes,
    onClose: prepared.release,
  });
}

async function streamThrottled(hub: Hub, options: SubscriptionOptions, sink: SseSink) {
  for await (const chunk of hub.subscribe(options)) {
    if (!sink.write(chunk) && !(await sink.drained(options.signal))) return;
  }
}
