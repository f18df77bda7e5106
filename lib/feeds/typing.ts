/**
 * Typing marks of the chat feed: `POST /chat/typing` sets one for a user, and the chat feed's
 * producer, wherever it runs, reads who is typing now. The marks live in the shared store so any
 * isolate or process can set them and the single producer sees them all.
 *
 * @module
 */

/** How long a typing mark lasts. */
export const TYPING_TTL_MS = 4000;

/**
 * Marks `user` as typing now.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { markTyping, readTyping } from "./typing.ts";
 * const kv = await Deno.openKv(":memory:");
 * await markTyping(kv, "ada", 1_000);
 * assert.deepEqual(await readTyping(kv, 2_000), { users: ["ada"], lastActivity: 1_000 });
 * assert.deepEqual((await readTyping(kv, 9_000)).users, []);
 * kv.close();
 * ```
 */
export async function markTyping(kv: Deno.Kv, user: string, now = Date.now()): Promise<void> {
  await kv.set(["typing", user], now, { expireIn: TYPING_TTL_MS * 3 });
}

/** Reads who is typing at `now` and the time of the latest typing mark. */
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
