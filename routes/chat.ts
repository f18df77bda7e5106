/**
 * `POST /chat/typing` with `{"user": "<name>"}`: marks a user as typing for a few seconds. The
 * mark lives in KV so the chat feed's producer, wherever it runs, sees it.
 *
 * @module
 */

import type { AppContext } from "../lib/app/context.ts";
import { isValidUserName } from "../lib/feeds/chat.ts";
import { BadRequest, readJsonObject } from "../lib/util/http_errors.ts";

/** How long a typing mark lasts. */
export const TYPING_TTL_MS = 4000;

/**
 * Handles a typing notification (204).
 *
 * @example
 * ```ts
 * import { handleTyping } from "./chat.ts";
 * console.assert(typeof handleTyping === "function");
 * ```
 */
export async function handleTyping(request: Request, context: AppContext): Promise<Response> {
  const body = await readJsonObject(request, 1024);
  if (typeof body.user !== "string" || !isValidUserName(body.user)) {
    throw new BadRequest(400, 'body must be {"user": "<1-32 letters, digits, spaces or _ - .>"}');
  }
  await context.hub.kv.set(["typing", body.user.trim()], Date.now(), {
    expireIn: TYPING_TTL_MS * 3,
  });
  return new Response(null, { status: 204 });
}

/**
 * Reads who is typing now and the time of the latest typing mark, from KV.
 *
 * @example
 * ```ts
 * import { readTyping } from "./chat.ts";
 * const kv = await Deno.openKv(":memory:");
 * console.assert((await readTyping(kv)).users.length === 0);
 * kv.close();
 * ```
 */
export async function readTyping(
  kv: Deno.Kv,
  now = Date.now(),
): Promise<{ users: string[]; lastActivity: number | null }> {
  const users: string[] = [];
  let lastActivity: number | null = null;
  for await (const entry of kv.list<number>({ prefix: ["typing"] })) {
    if (lastActivity === null || entry.value > lastActivity) lastActivity = entry.value;
    if (now - entry.value < TYPING_TTL_MS) users.push(entry.key[1] as string);
  }
  return { users: users.sort(), lastActivity };
}
