/**
 * The demo feeds' friendly URLs: `GET /feeds/{clock|stocks|system|chat}`,
 * `GET /feeds/orders/{id}` and `GET /feeds/games/{id}`. Each is an ordinary hub topic of the same
 * name (`clock`, `orders/{id}`, …), so Mercure clients can subscribe to them too.
 *
 * A first connection gets the feed's current state (its newest events) then live events; a
 * reconnect resumes after `Last-Event-ID`. Finite feeds end after their final event, and a
 * reconnect after that gets 204, which stops `EventSource` for good.
 *
 * @module
 */

import type { AppContext } from "../lib/app/context.ts";
import { ensureFiniteFeed, type FiniteFeedState } from "../lib/feeds/producers.ts";
import { startOrder } from "./orders.ts";
import { gameSimulation, isValidGameId } from "../lib/feeds/games.ts";
import { isValidOrderId } from "../lib/feeds/orders.ts";
import { isValidUserName } from "../lib/feeds/chat.ts";
import { BadRequest, refuse } from "../lib/util/http_errors.ts";
import { streamFinished } from "../lib/sse/response.ts";
import { SelectorSet } from "../lib/topics/topic_selector.ts";
import {
  authorizeSubscriber,
  openStream,
  requestedLastEventId,
  type StreamPlan,
} from "./subscribe.ts";

/** How many newest events a first connection gets, per shared feed. */
const CURRENT_STATE: Record<string, number> = { clock: 1, stocks: 20, system: 1, chat: 1 };

/** Finite feeds produced by one isolate at most (a flood of game ids cannot start unbounded work). */
const MAX_LOCAL_FEEDS = 200;

/**
 * Handles `GET /feeds/...`.
 */
export function handleFeed(
  request: Request,
  context: AppContext,
  path: string,
): Response | Promise<Response> {
  const parts = path.split("/").filter((part) => part !== "");
  if (parts.length === 1 && Object.hasOwn(CURRENT_STATE, parts[0])) {
    return sharedFeed(request, context, parts[0]);
  }
  if (parts.length === 2 && parts[0] === "orders") return orderFeed(request, context, parts[1]);
  if (parts.length === 2 && parts[0] === "games") return gameFeed(request, context, parts[1]);
  return refuse(
    404,
    `unknown feed ${
      JSON.stringify(path)
    }: try clock, stocks, system, chat, orders/{id} or games/{id}`,
  );
}

async function planFor(
  request: Request,
  context: AppContext,
  topic: string,
  firstConnection: () => Promise<number>,
): Promise<StreamPlan> {
  const selectors = new SelectorSet([topic]);
  const plan: StreamPlan = { selectors, claims: await authorizeSubscriber(request, context) };
  const lastEventId = requestedLastEventId(request, new URL(request.url));
  if (lastEventId !== undefined) {
    const point = await context.hub.resumePoint(lastEventId, selectors);
    plan.afterSeq = point.afterSeq;
    plan.resumedFrom = point.resumedFrom;
  } else {
    plan.afterSeq = await firstConnection();
  }
  return plan;
}

async function sharedFeed(request: Request, context: AppContext, name: string): Promise<Response> {
  const plan = await planFor(
    request,
    context,
    name,
    () => context.hub.log.seqBeforeNewest(name, CURRENT_STATE[name]),
  );
  if (name === "chat") {
    const user = new URL(request.url).searchParams.get("user");
    if (user !== null) {
      if (!isValidUserName(user)) {
        return refuse(400, "user must be 1-32 letters, digits, spaces or _ - . characters");
      }
      plan.payload = { user: user.trim() };
    }
  }
  return openStream(request, context, plan);
}

async function finiteFeed(
  request: Request,
  context: AppContext,
  kind: "orders" | "games",
  id: string,
  finalType: string,
  state: FiniteFeedState | null,
): Promise<Response> {
  if (!state) throw new BadRequest(404, `unknown ${kind === "orders" ? "order" : "game"} ${id}`);
  const topic = `${kind}/${id}`;
  const lastEventId = requestedLastEventId(request, new URL(request.url));
  if (
    state.status === "completed" && lastEventId !== undefined && lastEventId === state.finalEventId
  ) {
    return streamFinished();
  }
  const plan = await planFor(request, context, topic, async () => {
    // Orders replay their whole (short) history; games start from the current score.
    return kind === "orders" ? 0 : await context.hub.log.seqBeforeNewest(topic, 1);
  });
  plan.isFinal = (update) => update.type === finalType;
  return openStream(request, context, plan);
}

async function orderFeed(request: Request, context: AppContext, id: string): Promise<Response> {
  if (!isValidOrderId(id)) {
    throw new BadRequest(400, `bad order id ${JSON.stringify(id.slice(0, 80))}`);
  }
  const state = (await context.hub.kv.get<FiniteFeedState>(["orders", id])).value;
  if (state?.status === "running") startOrder(context, id, (state.item as string | null) ?? null);
  return finiteFeed(request, context, "orders", id, "order_complete", state);
}

async function gameFeed(request: Request, context: AppContext, id: string): Promise<Response> {
  if (!isValidGameId(id)) {
    throw new BadRequest(400, "bad game id: use 1-64 characters of a-z, 0-9 and -");
  }
  const key = ["games", id];
  let state = (await context.hub.kv.get<FiniteFeedState>(key)).value;
  if (!state) {
    const created: FiniteFeedState = { id, status: "running", createdAt: new Date().toISOString() };
    await context.hub.kv.atomic().check({ key, versionstamp: null }).set(key, created).commit();
    state = created;
  }
  const speed = context.config.feedSpeed;
  if (
    state.status === "running" &&
    !ensureFiniteFeed(
      context.hub,
      "games",
      id,
      `games/${id}`,
      "game_final",
      (signal, resumeFrom) => gameSimulation({ signal, speed, gameId: id, resumeFrom }),
      MAX_LOCAL_FEEDS,
    )
  ) {
    throw new BadRequest(503, "too many live games here; try again later", { "retry-after": "30" });
  }
  return finiteFeed(request, context, "games", id, "game_final", state);
}
