/**
 * `POST /orders` places an order whose simulated workflow streams on `/feeds/orders/{id}`;
 * `GET /orders/{id}` returns its state.
 *
 * @module
 */

import type { AppContext } from "../lib/app/context.ts";
import type { RouteMatch } from "../lib/app/router.ts";
import { clientKey } from "../lib/util/client_ip.ts";
import { type Admission, CreationQuota } from "../lib/feeds/creation_quota.ts";
import {
  ensureFiniteFeed,
  type FiniteFeed,
  type FiniteFeedPlace,
  type FiniteFeedState,
  reserveFiniteFeed,
} from "../lib/feeds/producers.ts";
import { isValidOrderId, newOrderId, ORDER_MAX_MS, orderWorkflow } from "../lib/feeds/orders.ts";
import { BadRequest, readJsonObject } from "../lib/util/http_errors.ts";

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}

/** Time for a dead producer's feed to be taken over (lease expiry and polling), on top of its run. */
const TAKEOVER_SLACK_MS = 10_000;

const quotas = new WeakMap<AppContext, Record<"orders" | "games", CreationQuota>>();

/**
 * The per-client creation limits of orders or games in this isolate (`TIDINGS_CREATE_RATE` per
 * minute, `TIDINGS_MAX_LIVE_PER_CLIENT` live), shared through the hub's records with every other isolate and node.
 */
export function creationQuota(context: AppContext, kind: "orders" | "games"): CreationQuota {
  let made = quotas.get(context);
  if (!made) {
    const limits = {
      perWindow: context.config.createRatePerMinute,
      windowMs: 60_000,
      maxLive: context.config.maxLivePerClient,
    };
    made = {
      orders: new CreationQuota(context.hub.records, "orders", limits),
      games: new CreationQuota(context.hub.records, "games", limits),
    };
    quotas.set(context, made);
  }
  return made[kind];
}

/**
 * How long an order or game may stay live (at most `maxMsAtSpeed1` of running, divided by the
 * feed speed, plus time for a takeover), and how long its record stays (that, plus the history's
 * maximum age, `TIDINGS_HISTORY_MAX_AGE_S`, after which its events are gone too).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { finiteFeedLifetimes } from "./orders.ts";
 * const lifetimes = finiteFeedLifetimes({ feedSpeed: 2, historyMaxAgeSeconds: 60 }, 20_000);
 * assert.deepEqual(lifetimes, { liveMs: 20_000, recordMs: 80_000, endedRecordMs: 60_000 });
 * ```
 */
export function finiteFeedLifetimes(
  config: { feedSpeed: number; historyMaxAgeSeconds: number },
  maxMsAtSpeed1: number,
): { liveMs: number; recordMs: number; endedRecordMs: number } {
  const liveMs = Math.ceil(maxMsAtSpeed1 / config.feedSpeed) + TAKEOVER_SLACK_MS;
  const endedRecordMs = config.historyMaxAgeSeconds * 1000;
  return { liveMs, recordMs: liveMs + endedRecordMs, endedRecordMs };
}

/**
 * The refusal for a creation the quota did not admit: 429 with `Retry-After`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { creationRefusal } from "./orders.ts";
 * const refusal = creationRefusal("order", {
 *   admitted: false,
 *   reason: "rate",
 *   retryAfterSeconds: 12,
 * });
 * assert.equal(refusal.status, 429);
 * assert.deepEqual(refusal.headers, { "retry-after": "12" });
 * ```
 */
export function creationRefusal(
  what: "order" | "game",
  admission: Admission & { admitted: false; reason: "rate" | "live" },
): BadRequest {
  const reason = admission.reason === "rate"
    ? `too many new ${what}s from this client: try again in ${admission.retryAfterSeconds} s`
    : `too many live ${what}s from this client: wait for one to end`;
  return new BadRequest(429, reason, { "retry-after": String(admission.retryAfterSeconds) });
}

/** What {@link admitCreation} needs to know of an order or a game being created. */
export interface CreationRequest {
  kind: "orders" | "games";
  /** Its record (the quota writes it in the same transaction that counts the creation). */
  state: FiniteFeedState & { createdBy: string };
  /** The longest it can run at feed speed 1. */
  maxMs: number;
  /** Its place among this isolate's live ones, given back if the creation is refused. */
  place: FiniteFeedPlace;
}

/**
 * Counts a creation against its client's quota and writes its record, or refuses it: the place
 * is given back and nothing is written. Resolves with the quota's answer (`exists` when someone
 * created the same id first); a rate or live-cap refusal resolves too, for the caller to word.
 */
export async function admitCreation(
  context: AppContext,
  creation: CreationRequest,
): Promise<Admission> {
  const { kind, state, maxMs, place } = creation;
  const { liveMs, recordMs } = finiteFeedLifetimes(context.config, maxMs);
  let admission: Admission;
  try {
    admission = await creationQuota(context, kind).admit({
      client: state.createdBy,
      id: state.id,
      record: { key: [kind, state.id], value: state, expireInMs: recordMs },
      liveUntil: Date.now() + liveMs,
    });
  } catch (error) {
    place.cancel();
    throw error;
  }
  if (!admission.admitted) place.cancel();
  return admission;
}

/**
 * Creates an order (201 with its id and `Location`) and starts its workflow. Refused, writing
 * nothing: 429 past the client's rate or live orders, 503 when this isolate runs its maximum of
 * live orders.
 */
export async function handleCreateOrder(request: Request, context: AppContext): Promise<Response> {
  const body = await readJsonObject(request, 4096);
  const item = body.item ?? null;
  if (
    item !== null && (typeof item !== "string" || item.length > 100 || hasControlCharacter(item))
  ) {
    throw new BadRequest(400, "item must be a string of at most 100 printable characters");
  }
  const { config } = context;
  const id = newOrderId();
  const place = reserveFiniteFeed("orders", id, config.maxLiveOrders);
  if (!place) {
    throw new BadRequest(
      503,
      `too many live orders here (${config.maxLiveOrders}); try again in a few seconds`,
      { "retry-after": "5" },
    );
  }
  const state: FiniteFeedState & { createdBy: string } = {
    id,
    status: "running",
    createdAt: new Date().toISOString(),
    item,
    createdBy: clientKey(request),
  };
  const admission = await admitCreation(context, {
    kind: "orders",
    state,
    maxMs: ORDER_MAX_MS,
    place,
  });
  if (!admission.admitted) {
    if (admission.reason === "exists") throw new Error(`order id ${id} drawn twice`);
    throw creationRefusal("order", admission);
  }
  place.start(context.hub, orderFeed(context, state));
  const location = `/orders/${id}`;
  return json({ id, item, status: "processing", location, stream: `/feeds/orders/${id}` }, 201, {
    location,
  });
}

/** The order's workflow as a finite feed; its end frees its place in its client's live orders. */
function orderFeed(context: AppContext, state: FiniteFeedState): FiniteFeed {
  const { id } = state;
  const speed = context.config.feedSpeed;
  const item = typeof state.item === "string" ? state.item : undefined;
  const client = typeof state.createdBy === "string" ? state.createdBy : undefined;
  return {
    kind: "orders",
    id,
    topic: `orders/${id}`,
    finalType: "order_complete",
    makeFeed: (signal, resumeFrom) =>
      orderWorkflow({ signal, speed, orderId: id, item, resumeFrom }),
    recordTtlMs: finiteFeedLifetimes(context.config, ORDER_MAX_MS).endedRecordMs,
    onCompleted: () =>
      client === undefined ? undefined : creationQuota(context, "orders").release(client, id),
  };
}

/**
 * Makes this isolate stand by to produce a running order's workflow (it takes over if the producer
 * dies), within this isolate's maximum of live orders.
 */
export function startOrder(context: AppContext, state: FiniteFeedState): void {
  ensureFiniteFeed(context.hub, orderFeed(context, state), context.config.maxLiveOrders);
}

/**
 * Returns an order's state; 404 for an unknown order, 400 for a malformed id.
 */
export async function handleGetOrder(
  _request: Request,
  context: AppContext,
  { rest: id }: RouteMatch,
): Promise<Response> {
  if (!isValidOrderId(id)) {
    throw new BadRequest(400, `bad order id ${JSON.stringify(id.slice(0, 80))}`);
  }
  const state = await context.hub.records.get<FiniteFeedState>(["orders", id]);
  if (!state) throw new BadRequest(404, `unknown order ${id}`);
  // Who created it stays private.
  const { createdBy: _createdBy, ...visible } = state;
  return json({ ...visible, status: state.status === "completed" ? "completed" : "processing" });
}
