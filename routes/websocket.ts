/**
 * The WebSocket fallback: `GET /.well-known/mercure?topic=…` with `Upgrade: websocket` gets the
 * same subscription (selectors, auth, replay via `lastEventID`, ids, filters) as one JSON text
 * frame per event: `{"id","type","data","topic"}`, plus `{"type":"tidings:heartbeat"}` frames on
 * the heartbeat interval. Browsers cannot set headers on a WebSocket, so
 * a token comes from the `authorization` query parameter or the `mercureAuthorization` cookie;
 * an upgrade that the cookie authenticates must come from an allowed origin (`cookie_origin.ts`).
 *
 * @module
 */

import { cookieOrigins, crossSiteCookieRefusal } from "../lib/app/cookie_origin.ts";
import { isServedDirectly } from "../lib/sse/mod.ts";
import { refuse } from "../lib/util/http_errors.ts";
import type { AppContext } from "../lib/app/context.ts";
import type { StoredUpdate } from "../lib/hub/mod.ts";
import { planMercureSubscription, prepareSubscription } from "./subscribe.ts";

/** Bytes a socket may hold unsent before the client counts as stalled and is dropped. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

const HEARTBEAT_FRAME = JSON.stringify({ type: "tidings:heartbeat" });
const openSockets = new Set<WebSocket>();
let heartbeatTimer: ReturnType<typeof setInterval> | undefined;

/** One shared timer sends a heartbeat frame to every open socket, so clients can spot dead ones. */
function trackSocket(socket: WebSocket, heartbeatMs: number): () => void {
  openSockets.add(socket);
  if (heartbeatTimer === undefined) {
    heartbeatTimer = setInterval(() => {
      for (const open of openSockets) {
        if (open.readyState === WebSocket.OPEN) open.send(HEARTBEAT_FRAME);
      }
    }, heartbeatMs);
    Deno.unrefTimer(heartbeatTimer);
  }
  return () => {
    openSockets.delete(socket);
    if (openSockets.size === 0 && heartbeatTimer !== undefined) {
      clearInterval(heartbeatTimer);
      heartbeatTimer = undefined;
    }
  };
}

/**
 * Whether a request asks to upgrade to a WebSocket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isWebSocketUpgrade } from "./websocket.ts";
 * assert.equal(isWebSocketUpgrade(new Request("http://x/", { headers: { upgrade: "websocket" } })), true);
 * assert.equal(isWebSocketUpgrade(new Request("http://x/")), false);
 * ```
 */
export function isWebSocketUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/**
 * The JSON frame of one update.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { frameOf } from "./websocket.ts";
 * const frame = frameOf({ seq: 1, id: "a", topics: ["t"], data: "x", time: 0, type: "note" });
 * assert.equal(frame, '{"id":"a","type":"note","data":"x","topic":"t"}');
 * ```
 */
export function frameOf(update: StoredUpdate): string {
  return JSON.stringify({
    id: update.id,
    type: update.type ?? "message",
    data: update.data,
    topic: update.topics[0],
  });
}

/**
 * Upgrades and serves a subscription over WebSocket.
 */
export async function handleWebSocket(request: Request, context: AppContext): Promise<Response> {
  if (isServedDirectly(request)) {
    // Deno.upgradeWebSocket needs a Deno.serve request; clients fall back to SSE.
    return refuse(501, "WebSocket is not served by the direct listener: subscribe with SSE");
  }
  // Cross-site WebSocket hijacking: any page can open a socket that carries the user's cookie.
  const crossSite = crossSiteCookieRefusal(request, cookieOrigins(context.config));
  if (crossSite) return refuse(403, crossSite);
  const plan = await planMercureSubscription(request, context);
  if (plan instanceof Response) return plan;
  const prepared = await prepareSubscription(request, context, plan);
  if (prepared instanceof Response) return prepared;
  let upgraded: ReturnType<typeof Deno.upgradeWebSocket>;
  try {
    upgraded = Deno.upgradeWebSocket(request);
  } catch (error) {
    prepared.release();
    throw error;
  }
  const { socket, response } = upgraded;
  let untrack = () => {};
  socket.onclose = () => {
    untrack();
    prepared.release();
  };
  socket.onopen = async () => {
    untrack = trackSocket(socket, context.config.heartbeatMs);
    try {
      if (plan.resumedFrom !== undefined) {
        socket.send(JSON.stringify({ type: "tidings:resumed", lastEventID: plan.resumedFrom }));
      }
      const options = prepared.options(() =>
        socket.close(4008, "client too slow: reconnect with lastEventID")
      );
      for await (const batch of context.hub.subscribeUpdates(options)) {
        if (socket.readyState !== WebSocket.OPEN) break;
        for (const update of batch) socket.send(frameOf(update));
        if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
          socket.close(4008, "client too slow: reconnect with lastEventID");
          break;
        }
      }
      if (socket.readyState === WebSocket.OPEN) {
        socket.close(
          context.hub.closing.aborted ? 1012 : 1000,
          context.hub.closing.aborted ? "restarting" : "done",
        );
      }
    } catch {
      try {
        socket.close(1011, "internal error");
      } catch {
        // already closed
      }
    } finally {
      prepared.release();
    }
  };
  return response;
}
