/**
 * The demo feeds' friendly URLs: `GET /feeds/{clock|stocks|system|chat}`,
 * `GET /feeds/orders/{id}` and `GET /feeds/games/{id}`, and `GET /feeds/latest?topic=…` (the
 * newest event of each, as JSON). Each is an ordinary hub topic of the same
 * name (`clock`, `orders/{id}`, …), so Mercure clients can subscribe to them too.
 *
 * A first connection gets the feed's current state (its newest events) then live events; a
 * reconnect resumes after `Last-Event-ID`. Finite feeds end after their final event, and a
 * reconnect after that gets 204, which stops `EventSource` for good.
 *
 * @module
 */

import type { AppContext } from "../lib/app/context.ts";
import type { RouteMatch } from "../lib/app/router.ts";
import {
  ensureFiniteFeed,
  type FiniteFeed,
  type FiniteFeedState,
  reserveFiniteFeed,
} from "../lib/feeds/producers.ts";
import {
  admitCreation,
  creationQuota,
  creationRefusal,
  finiteFeedLifetimes,
  startOrder,
} from "./orders.ts";
import { GAME_MAX_MS, gameSimulation, isValidGameId } from "../lib/feeds/games.ts";
import { clientKey } from "../lib/util/client_ip.ts";
import { isValidOrderId } from "../lib/feeds/orders.ts";
import { isValidUserName } from "../lib/feeds/chat.ts";
import { BadRequest, refuse } from "../lib/util/http_errors.ts";
import { streamFinished } from "../lib/sse/mod.ts";
import { SelectorSet } from "../lib/topics/mod.ts";
import {
  authorizeSubscriber,
  openStream,
  prepareSubscription,
  requestedLastEventId,
  type StreamPlan,
  streamSubscription,
} from "./subscribe.ts";

/** How many newest events a first connection gets, per shared feed. */
const CURRENT_STATE: Record<string, number> = { clock: 1, stocks: 20, system: 1, chat: 1 };

/**
 * Handles `GET /feeds/...`.
 */
export function handleFeed(
  request: Request,
  context: AppContext,
  { rest: path }: RouteMatch,
): Response | Promise<Response> {
  const parts = path.split("/").filter((part) => part !== "");
  if (parts.length === 1 && parts[0] === "latest") return latestEvents(request, context);
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
    const point = await context.hub.resumePoint(lastEventId, selectors, plan.claims);
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
    () => context.hub.seqBeforeNewest(name, CURRENT_STATE[name]),
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
  state: FiniteFeedState | undefined,
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
    return kind === "orders" ? 0 : await context.hub.seqBeforeNewest(topic, 1);
  });
  plan.isFinal = (update) => update.type === finalType;
  return openStream(request, context, plan);
}

async function orderFeed(request: Request, context: AppContext, id: string): Promise<Response> {
  if (!isValidOrderId(id)) {
    throw new BadRequest(400, `bad order id ${JSON.stringify(id.slice(0, 80))}`);
  }
  const state = await keepOrderRunning(context, id);
  return finiteFeed(request, context, "orders", id, "order_complete", state);
}

/** Makes this isolate stand by to produce a running order (a watched order survives its producer). */
async function keepOrderRunning(
  context: AppContext,
  id: string,
): Promise<FiniteFeedState | undefined> {
  const state = await context.hub.records.get<FiniteFeedState>(["orders", id]);
  if (state?.status === "running") startOrder(context, state);
  return state;
}

/** The game's simulation as a finite feed; its end frees its place in its creator's live games. */
function gameFeedOf(context: AppContext, state: FiniteFeedState): FiniteFeed {
  const { id } = state;
  const speed = context.config.feedSpeed;
  const client = typeof state.createdBy === "string" ? state.createdBy : undefined;
  return {
    kind: "games",
    id,
    topic: `games/${id}`,
    finalType: "game_final",
    makeFeed: (signal, resumeFrom) => gameSimulation({ signal, speed, gameId: id, resumeFrom }),
    recordTtlMs: finiteFeedLifetimes(context.config, GAME_MAX_MS).endedRecordMs,
    onCompleted: () =>
      client === undefined ? undefined : creationQuota(context, "games").release(client, id),
  };
}

const tooManyGames = (context: AppContext) =>
  new BadRequest(
    503,
    `too many live games here (${context.config.maxLiveGames}); try again later`,
    { "retry-after": "30" },
  );

async function gameFeed(request: Request, context: AppContext, id: string): Promise<Response> {
  if (!isValidGameId(id)) {
    throw new BadRequest(400, "bad game id: use 1-64 characters of a-z, 0-9 and -");
  }
  const state = await context.hub.records.get<FiniteFeedState>(["games", id]);
  if (state) {
    joinGame(context, state);
    return finiteFeed(request, context, "games", id, "game_final", state);
  }
  return newGame(request, context, id);
}

/** Makes this isolate produce a running game, or stand by to (503 when too many run here). */
function joinGame(context: AppContext, state: FiniteFeedState): void {
  if (
    state.status === "running" &&
    !ensureFiniteFeed(context.hub, gameFeedOf(context, state), context.config.maxLiveGames)
  ) {
    throw tooManyGames(context);
  }
}

/**
 * A stream of a game nobody started yet. The stream is admitted first (its parameters and the
 * connection limits), then the game is created; a refusal at either step writes nothing.
 */
async function newGame(request: Request, context: AppContext, id: string): Promise<Response> {
  const topic = `games/${id}`;
  const plan = await planFor(request, context, topic, () => context.hub.seqBeforeNewest(topic, 1));
  plan.isFinal = (update) => update.type === "game_final";
  const prepared = await prepareSubscription(request, context, plan);
  if (prepared instanceof Response) return prepared;
  try {
    await createGame(request, context, id);
  } catch (error) {
    prepared.release();
    throw error;
  }
  return streamSubscription(request, context, prepared);
}

/**
 * Creates the game `id` for the requesting client and starts producing it: this isolate's live
 * games, then the client's rate and live games, checked and counted in the same transaction that
 * writes the game's record. A game someone created meanwhile is joined instead. Refusals throw
 * (`BadRequest` 429 or 503) and write nothing.
 */
async function createGame(
  request: Request,
  context: AppContext,
  id: string,
): Promise<FiniteFeedState> {
  const { hub, config } = context;
  const place = reserveFiniteFeed("games", id, config.maxLiveGames);
  if (!place) throw tooManyGames(context);
  const state: FiniteFeedState & { createdBy: string } = {
    id,
    status: "running",
    createdAt: new Date().toISOString(),
    createdBy: clientKey(request),
  };
  const admission = await admitCreation(context, {
    kind: "games",
    state,
    maxMs: GAME_MAX_MS,
    place,
  });
  if (!admission.admitted) {
    if (admission.reason !== "exists") throw creationRefusal("game", admission);
    // Someone else created it meanwhile: join theirs.
    const started = await hub.records.get<FiniteFeedState>(["games", id]);
    if (!started) {
      throw new BadRequest(503, `game ${id} changed meanwhile; try again`, { "retry-after": "1" });
    }
    joinGame(context, started);
    return started;
  }
  place.start(hub, gameFeedOf(context, state));
  return state;
}

/** At most this many topics per `GET /feeds/latest`. */
const MAX_LATEST_TOPICS = 8;

/** Whether `topic` is a demo feed's topic: a shared feed, `orders/{id}` or `games/{id}`. */
function isDemoTopic(topic: string): boolean {
  const [kind, id, ...rest] = topic.split("/");
  if (id === undefined) return Object.hasOwn(CURRENT_STATE, kind);
  if (rest.length > 0) return false;
  return kind === "games" ? isValidGameId(id) : kind === "orders" && isValidOrderId(id);
}

/**
 * `GET /feeds/latest?topic=clock&topic=games/demo…`: the newest public event of each demo feed's
 * topic, as JSON `[{ topic, id, type, data }]` (topics without one are left out). A page that
 * follows the feeds on one live Mercure subscription draws their current state from it at once,
 * without holding a second stream. At most {@link MAX_LATEST_TOPICS} topics; others get a 400.
 */
async function latestEvents(request: Request, context: AppContext): Promise<Response> {
  const named = new URL(request.url).searchParams.getAll("topic");
  if (named.length === 0 || named.length > MAX_LATEST_TOPICS) {
    throw new BadRequest(400, `name 1 to ${MAX_LATEST_TOPICS} topics with ?topic=`);
  }
  const topics = [...new Set(named)];
  const unknown = topics.find((topic) => !isDemoTopic(topic));
  if (unknown !== undefined) {
    throw new BadRequest(
      400,
      `not a demo feed's topic: ${JSON.stringify(unknown.slice(0, 80))} (try clock, stocks, ` +
        "system, chat, orders/{id} or games/{id})",
    );
  }
  const newest = await Promise.all(topics.map((topic) => context.hub.newest(topic)));
  const events = newest.flatMap((update, index) =>
    update && !update.private
      ? [{ topic: topics[index], id: update.id, type: update.type ?? "message", data: update.data }]
      : []
  );
  return new Response(JSON.stringify(events), {
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/** At most this many game and order topics of one Mercure subscription start or keep a feed. */
const MAX_FEEDS_PER_SUBSCRIPTION = 4;

/**
 * Gives a Mercure subscription to the demo feeds' topics what `/feeds/*` gives, so that one
 * subscription can carry every panel of the dashboard: a `games/{id}` topic starts that game
 * (counted against the client's creation quota, like `/feeds/games/{id}`), an `orders/{id}` topic
 * keeps the order's workflow produced, and `?user=<name>` beside the `chat` topic counts the
 * subscriber as present in the chat room. For the first {@link MAX_FEEDS_PER_SUBSCRIPTION} game
 * and order topics only; the caller applies it only when the demo feeds are on. Throws
 * `BadRequest` (400 for a bad user name, 429 or 503 when a game cannot be created).
 */
export async function joinDemoFeeds(
  request: Request,
  context: AppContext,
  plan: StreamPlan,
): Promise<void> {
  const topics = plan.selectors.exactTopics;
  if (topics.has("chat")) {
    const user = new URL(request.url).searchParams.get("user");
    if (user !== null) {
      if (!isValidUserName(user)) {
        throw new BadRequest(400, "user must be 1-32 letters, digits, spaces or _ - . characters");
      }
      plan.payload = { user: user.trim() };
    }
  }
  const feeds = [...topics].filter((topic) => topic.includes("/") && isDemoTopic(topic))
    .map((topic) => topic.split("/"))
    .slice(0, MAX_FEEDS_PER_SUBSCRIPTION);
  for (const [kind, id] of feeds) {
    if (kind === "orders") {
      await keepOrderRunning(context, id);
      continue;
    }
    const state = await context.hub.records.get<FiniteFeedState>(["games", id]);
    if (state) joinGame(context, state);
    else await createGame(request, context, id);
  }
}
