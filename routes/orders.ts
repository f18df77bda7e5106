/**
 * `POST /orders` places an order whose simulated workflow streams on `/feeds/orders/{id}`;
 * `GET /orders/{id}` returns its state.
 *
 * @module
 */

import type { AppContext } from "../lib/app/context.ts";
import { ensureFiniteFeed, type FiniteFeedState } from "../lib/feeds/producers.ts";
import { isValidOrderId, newOrderId, orderWorkflow } from "../lib/feeds/orders.ts";
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

/**
 * Creates an order (201 with its id and `Location`) and starts its workflow.
 */
export async function handleCreateOrder(request: Request, context: AppContext): Promise<Response> {
  const body = await readJsonObject(request, 4096);
  const item = body.item ?? null;
  if (
    item !== null && (typeof item !== "string" || item.length > 100 || hasControlCharacter(item))
  ) {
    throw new BadRequest(400, "item must be a string of at most 100 printable characters");
  }
  const id = newOrderId();
  const state: FiniteFeedState = {
    id,
    status: "running",
    createdAt: new Date().toISOString(),
    item,
  };
  await context.hub.records.set(["orders", id], state, { expireInMs: 7 * 86_400_000 });
  startOrder(context, id, item);
  const location = `/orders/${id}`;
  return json({ id, item, status: "processing", location, stream: `/feeds/orders/${id}` }, 201, {
    location,
  });
}

/**
 * Makes this isolate produce (or stand by to produce) an order's workflow.
 */
export function startOrder(context: AppContext, id: string, item: string | null): void {
  const speed = context.config.feedSpeed;
  ensureFiniteFeed(
    context.hub,
    "orders",
    id,
    `orders/${id}`,
    "order_complete",
    (signal, resumeFrom) =>
      orderWorkflow({ signal, speed, orderId: id, item: item ?? undefined, resumeFrom }),
    Number.MAX_SAFE_INTEGER,
  );
}

/**
 * Returns an order's state; 404 for an unknown order, 400 for a malformed id.
 */
export async function handleGetOrder(context: AppContext, id: string): Promise<Response> {
  if (!isValidOrderId(id)) {
    throw new BadRequest(400, `bad order id ${JSON.stringify(id.slice(0, 80))}`);
  }
  const state = await context.hub.records.get<FiniteFeedState>(["orders", id]);
  if (!state) throw new BadRequest(404, `unknown order ${id}`);
  return json({ ...state, status: state.status === "completed" ? "completed" : "processing" });
}
