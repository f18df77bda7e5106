/**
 * The order workflow feed: a simulated order going through six processing steps, each taking
 * 1–3 s (divided by the speed).
 *
 * @module
 */

import { sleep } from "../util/abortable.ts";
import { type FeedEvent, type FeedOptions, isoTime, scaledMs } from "./feed.ts";

/** The steps every order goes through, in order. */
export const ORDER_STEPS: readonly string[] = Object.freeze([
  "Order Received",
  "Payment Processing",
  "Inventory Check",
  "Packaging",
  "Shipping Label Created",
  "Ready for Pickup",
]);

/** One step of an order as sent in events. */
export type OrderStep = {
  name: string;
  status: "pending" | "in-progress" | "completed";
  startTime: string | null;
  endTime: string | null;
};

/** The longest an order's workflow runs at speed 1: six steps of at most 3 s. */
export const ORDER_MAX_MS = 6 * 3000;

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
const ORDER_ID = /^ord_[a-z2-7]{12}$/;

/**
 * A new random order id: `"ord_"` and 12 lowercase base32 characters (60 random bits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidOrderId, newOrderId } from "./orders.ts";
 * assert.equal(isValidOrderId(newOrderId()), true);
 * assert.notEqual(newOrderId(), newOrderId());
 * ```
 */
export function newOrderId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "ord_" + Array.from(bytes, (byte) => BASE32[byte & 31]).join("");
}

/**
 * Whether `id` has the form {@link newOrderId} produces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidOrderId } from "./orders.ts";
 * assert.equal(isValidOrderId("ord_abcdefgh2345"), true);
 * assert.equal(isValidOrderId("ord_../etc"), false);
 * ```
 */
export function isValidOrderId(id: string): boolean {
  return ORDER_ID.test(id);
}

/** Options of {@link orderWorkflow}. */
export interface OrderOptions extends FeedOptions {
  orderId: string;
  /** What was ordered, if known. */
  item?: string;
  /**
   * The data of the last event published for this order by a producer that died: the workflow
   * continues from its steps instead of starting over.
   */
  resumeFrom?: Record<string, unknown>;
}

/**
 * Yields the order's state after every change: step `i` goes `"in-progress"` (startTime set),
 * then after 1–3 s (divided by the speed) `"completed"` (endTime set), then step `i + 1` starts.
 * Each event is `"order_update"`
 * `{ orderId, item, status: "processing", steps, currentStep, updateTime }`, where currentStep is
 * the index of the step last changed; the last one (the sixth step completed) is
 * `"order_complete"` with status `"completed"` and `final: true`. The first event has step 0 in
 * progress and the others pending. Returns early when `signal` aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newOrderId, orderWorkflow } from "./orders.ts";
 * const signal = new AbortController().signal;
 * const events = [];
 * for await (const event of orderWorkflow({ signal, speed: 1000, orderId: newOrderId() })) {
 *   events.push(event);
 * }
 * assert.equal(events.at(-1)?.type, "order_complete");
 * ```
 */
export async function* orderWorkflow(options: OrderOptions): AsyncGenerator<FeedEvent> {
  const { signal, orderId } = options;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const item = options.item ?? null;
  const steps: OrderStep[] = ORDER_STEPS.map((name) => ({
    name,
    status: "pending",
    startTime: null,
    endTime: null,
  }));
  const snapshot = (currentStep: number, done: boolean): FeedEvent => ({
    type: done ? "order_complete" : "order_update",
    data: {
      orderId,
      item,
      status: done ? "completed" : "processing",
      steps: steps.map((step) => ({ ...step })),
      currentStep,
      updateTime: isoTime(now()),
    },
    ...(done ? { final: true } : {}),
  });
  const first = options.resumeFrom ? restoreSteps(options.resumeFrom, steps) : 0;
  for (let index = first; index < steps.length; index++) {
    if (signal.aborted) return;
    const step = steps[index];
    if (step.status !== "in-progress") {
      step.status = "in-progress";
      step.startTime = isoTime(now());
      yield snapshot(index, false);
    }
    if (!(await sleep(scaledMs(1000 + random() * 2000, options.speed), signal))) return;
    step.status = "completed";
    // Never before the start, even if the injected clock stood still or stepped back.
    step.endTime = isoTime(Math.max(now(), Date.parse(step.startTime ?? "") || 0));
    yield snapshot(index, index === steps.length - 1);
  }
}

/** Copies the steps' state from a published event; returns the index of the first unfinished step. */
function restoreSteps(data: Record<string, unknown>, steps: OrderStep[]): number {
  const published = Array.isArray(data.steps) ? data.steps : [];
  for (const [index, step] of steps.entries()) {
    const from = published[index] as Partial<OrderStep> | undefined;
    if (!from || from.name !== step.name) continue;
    if (from.status === "completed" || from.status === "in-progress") step.status = from.status;
    if (typeof from.startTime === "string") step.startTime = from.startTime;
    if (typeof from.endTime === "string") step.endTime = from.endTime;
  }
  const first = steps.findIndex((step) => step.status !== "completed");
  return first === -1 ? steps.length : first;
}
