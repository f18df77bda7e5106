/**
 * Mercure vocabulary for black-box tests of the hub: its URL and the refusals it answers with.
 *
 * @module
 */

/** The path of the Mercure hub (draft-07 discovery). */
export const HUB_PATH = "/.well-known/mercure";

/**
 * The hub URL of a server with the given query. A string is used as written (already encoded);
 * pairs, a record or `URLSearchParams` are encoded by `URLSearchParams` (repeat a name in pairs to
 * repeat the parameter).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hubUrl } from "./mercure.ts";
 * const url = hubUrl("http://127.0.0.1:8000", [["topic", "a"], ["topic", "b"]]);
 * assert.ok(url === "http://127.0.0.1:8000/.well-known/mercure?topic=a&topic=b");
 * ```
 */
export function hubUrl(
  baseUrl: string,
  query: string | string[][] | Record<string, string> | URLSearchParams,
): string {
  const search = typeof query === "string" ? query : new URLSearchParams(query);
  return `${baseUrl}${HUB_PATH}?${search}`;
}

/** A refusal as a test compares it: status, content type and body text. */
export interface Refusal {
  status: number;
  type: string | null;
  text: string;
}

/**
 * Reads a refusal from a response (its body is consumed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readRefusal } from "./mercure.ts";
 * const refusal = await readRefusal(new Response("no\n", { status: 401 }));
 * assert.ok(refusal.status === 401 && refusal.text === "no\n");
 * ```
 */
export async function readRefusal(response: Response): Promise<Refusal> {
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    text: await response.text(),
  };
}

/**
 * The refusal the hub answers for `reason`: the status, `text/plain` and the reason on one line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectedRefusal } from "./mercure.ts";
 * const refusal = expectedRefusal(400, "missing topic");
 * assert.ok(refusal.text === "missing topic\n");
 * ```
 */
export function expectedRefusal(status: number, reason: string): Refusal {
  return { status, type: "text/plain; charset=utf-8", text: `${reason}\n` };
}
