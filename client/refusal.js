// @ts-check
/**
 * What the hub's answer to a subscription request means when it is not an open event stream:
 * finished (204), refused for good (most 4xx), or worth retrying (5xx, 408, 429, a proxy's page).
 *
 * @module
 */

import { SubscriptionError } from "./errors.js";

/** @typedef {import("./attempt.js").Outcome} Outcome */

/**
 * What a response that is not an open event stream means; `undefined` when it is one. Consumes
 * the body of a refusal.
 *
 * @param {Response} response
 * @returns {Promise<Outcome | undefined>}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refusalOf } from "./refusal.js";
 * const outcome = await refusalOf(new Response("unknown feed", { status: 404 }));
 * assert.deepEqual([outcome?.kind, outcome?.error?.reason], ["fatal", "unknown feed"]);
 * assert.deepEqual(await refusalOf(new Response(null, { status: 204 })), { kind: "finished" });
 * ```
 */
export async function refusalOf(response) {
  const { status } = response;
  if (status === 204) {
    await response.body?.cancel().catch(() => {});
    return { kind: "finished" };
  }
  if (!response.ok) {
    let reason = response.headers.get("x-tidings-refusal") ?? "";
    try {
      reason = (await response.text()).trim().slice(0, 300) || reason;
    } catch {
      // keep the header's reason
    }
    const message = `the hub answered ${status}${reason ? `: ${reason}` : ""}`;
    const error = new SubscriptionError(message, { status, reason });
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return { kind: "fatal", error };
    }
    const retryAfterMs = status === 503 || status === 429
      ? parseRetryAfter(response.headers.get("retry-after"))
      : undefined;
    return { kind: "retry", error, retryAfterMs };
  }
  const type = response.headers.get("content-type") ?? "";
  if (!/^\s*text\/event-stream\s*(;|$)/i.test(type) || !response.body) {
    await response.body?.cancel().catch(() => {});
    const message = `expected text/event-stream, got ${
      type || "no content type"
    }: a proxy may be in the way`;
    return { kind: "retry", suspect: true, error: new SubscriptionError(message, { status }) };
  }
  return undefined;
}

/**
 * A `Retry-After` header in milliseconds: seconds, or an HTTP date (0 once past).
 *
 * @param {string | null} value
 * @returns {number | undefined}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRetryAfter } from "./refusal.js";
 * assert.equal(parseRetryAfter("30"), 30_000);
 * assert.equal(parseRetryAfter("soon"), undefined);
 * ```
 */
export function parseRetryAfter(value) {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
