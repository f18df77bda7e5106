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
import {
  ensureFiniteFeed,
  type FiniteFeed,
  type FiniteFeedState,
  reserveFiniteFeed,
} from "../lib/feeds/producers.ts";
import { creationQuota, creationRefusal, finiteFeedLifetimes, startOrder } from "./orders.ts";
import { GAME_MAX_MS, gameSimulation, isValidGameId } from "../lib/feeds/games.ts";
import { clientIp, clientKey } from "../lib/util/client_ip.ts";
import { parseDataFilter } from "../lib/hub/data_filter.ts";
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

/**
 * Handles `GET /feeds/...`.
 *
 * @example
 * ```ts
 * import { handleFeed } from "./feeds.ts";
 * console.assert(typeof handleFeed === "function");
 * ```
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
  if (state?.status === "running") startOrder(context, state);
  return finiteFeed(request, context, "orders", id, "order_complete", state);
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
  const state = (await context.hub.kv.get<FiniteFeedState>(["games", id])).value;
  return state ? existingGame(request, context, state) : newGame(request, context, id);
}

function existingGame(
  request: Request,
  context: AppContext,
  state: FiniteFeedState,
): Promise<Response> {
  if (
    state.status === "running" &&
    !ensureFiniteFeed(context.hub, gameFeedOf(context, state), context.config.maxLiveGames)
  ) {
    throw tooManyGames(context);
  }
  return finiteFeed(request, context, "games", state.id, "game_final", state);
}

/**
 * A stream of a game nobody started yet: every refusal comes before its record is written
 * (stream parameters and connection limits, this isolate's live games, then the client's rate and
 * live games, checked and counted in the same atomic that writes the record).
 */
async function newGame(request: Request, context: AppContext, id: string): Promise<Response> {
  const { hub, config } = context;
  const topic = `games/${id}`;
  const plan = await planFor(request, context, topic, () => hub.log.seqBeforeNewest(topic, 1));
  plan.isFinal = (update) => update.type === "game_final";
  const refused = streamRefusal(request, context);
  if (refused) return refused;
  const place = reserveFiniteFeed("games", id, config.maxLiveGames);
  if (!place) throw tooManyGames(context);
  const client = clientKey(request);
  const { liveMs, recordMs } = finiteFeedLifetimes(config, GAME_MAX_MS);
  const state: FiniteFeedState = {
    id,
    status: "running",
    createdAt: new Date().toISOString(),
    createdBy: client,
  };
  const quota = creationQuota(context, "games");
  let admission;
  try {
    admission = await quota.admit({
      client,
      id,
      record: { key: ["games", id], value: state, expireIn: recordMs },
      liveUntil: Date.now() + liveMs,
    });
  } catch (error) {
    place.cancel();
    throw error;
  }
  if (!admission.admitted) {
    place.cancel();
    if (admission.reason !== "exists") throw creationRefusal("game", admission);
    // Someone else started it meanwhile: watch theirs.
    const started = (await hub.kv.get<FiniteFeedState>(["games", id])).value;
    if (!started) {
      throw new BadRequest(503, `game ${id} changed meanwhile; try again`, {
        "retry-after": "1",
      });
    }
    return existingGame(request, context, started);
  }
  // Refused after all (a connection limit reached meanwhile): undo the creation.
  const undo = async () => {
    place.cancel();
    await hub.kv.delete(["games", id]);
    await quota.release(client, id, true);
  };
  let response: Response;
  try {
    response = openStream(request, context, plan);
  } catch (error) {
    await undo();
    throw error;
  }
  if (response.status !== 200) {
    await undo();
    return response;
  }
  place.start(hub, gameFeedOf(context, state));
  return response;
}

/**
 * The refusal a stream request would get from `openStream` for its `?throttle=`, its `?filter=` or
 * the connection limits, found without registering anything (the same checks, made early).
 */
function streamRefusal(request: Request, context: AppContext): Response | undefined {
  const { config, metrics } = context;
  const url = new URL(request.url);
  const throttle = url.searchParams.get("throttle");
  if (
    throttle !== null &&
    (!/^\d+$/.test(throttle) || Number(throttle) < 1 || Number(throttle) > 3_600_000)
  ) {
    return refuse(400, "throttle must be an integer number of milliseconds from 1 to 3600000");
  }
  parseDataFilter(url.searchParams.getAll("filter"));
  const open = metrics.processConnections(clientIp(request));
  if (open.total >= config.maxConnections) {
    metrics.count('refusals_total{reason="max_connections"}');
    return refuse(503, `connection limit reached (${config.maxConnections})`, {
      "retry-after": "5",
    });
  }
  if (open.forIp >= config.maxConnectionsPerIp) {
    metrics.count('refusals_total{reason="max_connections_per_ip"}');
    return refuse(503, `per-client connection limit reached (${config.maxConnectionsPerIp})`, {
      "retry-after": "5",
    });
  }
  return undefined;
}
