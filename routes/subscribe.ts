/**
 * `GET /.well-known/mercure?topic=…`: a Mercure subscription as an event stream.
 *
 * Also serves the friendly `/feeds/...` aliases through {@link openStream}, which takes the
 * already-decided selectors and resume point.
 *
 * @module
 */

import {
  type AdmittedSubscription,
  type BudgetRefusal,
  type Hub,
  parseDataFilter,
  type SubscriptionOptions,
  type SubscriptionPlan,
  subscriptionRecordRefusal,
} from "../lib/hub/mod.ts";
import type { AppContext } from "../lib/app/context.ts";
import { BadRequest, refuse } from "../lib/util/http_errors.ts";
import { clientIp } from "../lib/util/client_ip.ts";
import { JwtError } from "../lib/auth/jwt.ts";
import { authorize, type MercureClaims } from "../lib/auth/mercure_auth.ts";
import { encodeEventBytes, ssePushResponse, type SseSink } from "../lib/sse/mod.ts";
import { InvalidSelectorError, SelectorSet, subscriptionCapsRefusal } from "../lib/topics/mod.ts";

/** How a stream should start, decided by the route (see `lib/hub/admission.ts`). */
export type StreamPlan = SubscriptionPlan;

/**
 * The `Last-Event-ID` a request asks to resume from: the header wins over the `lastEventID` query
 * parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestedLastEventId } from "./subscribe.ts";
 * const request = new Request("http://x/?lastEventID=a", { headers: { "last-event-id": "b" } });
 * assert.equal(requestedLastEventId(request, new URL(request.url)), "b");
 * ```
 */
export function requestedLastEventId(request: Request, url: URL): string | undefined {
  return request.headers.get("last-event-id") ?? url.searchParams.get("lastEventID") ?? undefined;
}

/**
 * Authorises a subscriber: its claims, or a refusal (401) when the token is bad or anonymous
 * access is off.
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
  const capped = subscriptionCapsRefusal(selectors, claims === undefined) ??
    (context.config.subscriptionEvents
      ? topics.map((topic) => subscriptionRecordRefusal(context.hub, topic)).find((reason) =>
        reason !== undefined
      )
      : undefined);
  if (capped !== undefined) return refuse(400, capped);
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
 */
export async function handleSubscribe(
  request: Request,
  context: AppContext,
  prepare?: (request: Request, context: AppContext, plan: StreamPlan) => Promise<void>,
): Promise<Response> {
  const plan = await planMercureSubscription(request, context);
  if (plan instanceof Response) return plan;
  await prepare?.(request, context, plan);
  return openStream(request, context, plan);
}

/** The 503 for a connection past a limit. */
function refuseConnection(context: AppContext, refusal: BudgetRefusal): Response {
  const { config } = context;
  const reason = refusal === "max_connections"
    ? `connection limit reached (${config.maxConnections})`
    : refusal === "max_connections_per_ip"
    ? `per-client connection limit reached (${config.maxConnectionsPerIp})`
    : "connection limits cannot be checked right now (store unavailable)";
  return refuse(503, reason, { "retry-after": "5" });
}

/** A subscription admitted for a request, with the response headers its stream carries. */
export interface PreparedSubscription extends AdmittedSubscription {
  /** Response headers (discovery `Link`, `Last-Event-ID`). */
  headers: Record<string, string>;
}

/**
 * Admits a planned subscription for a request (see `lib/hub/admission.ts`), after reading its
 * `?throttle=` and `?filter=`; a refusal comes back as the response to send.
 */
export async function prepareSubscription(
  request: Request,
  context: AppContext,
  plan: StreamPlan,
): Promise<PreparedSubscription | Response> {
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
  const admitted = await context.admission.admit({
    plan,
    ip: clientIp(request),
    throttleMs,
    filter,
  });
  if ("refused" in admitted) return refuseConnection(context, admitted.refused);
  const headers: Record<string, string> = {
    link: `<${url.protocol}//${url.host}/.well-known/mercure>; rel="mercure"`,
  };
  if (plan.resumedFrom !== undefined) headers["last-event-id"] = plan.resumedFrom;
  return Object.assign(admitted, { headers });
}

/** Opens the event stream for a decided plan: admits it, then streams it. */
export async function openStream(
  request: Request,
  context: AppContext,
  plan: StreamPlan,
): Promise<Response> {
  const prepared = await prepareSubscription(request, context, plan);
  if (prepared instanceof Response) return prepared;
  return streamSubscription(request, context, prepared);
}

/**
 * The event stream of an admitted subscription: history, then live updates, until the client
 * leaves, the hub shuts down or the token expires. Releasing the subscription when it ends.
 */
export function streamSubscription(
  request: Request,
  context: AppContext,
  prepared: PreparedSubscription,
): Response {
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
