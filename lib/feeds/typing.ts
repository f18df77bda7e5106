/**
 * Typing marks of the chat feed: `POST /chat/typing` sets one for a user, and the chat feed's
 * producer, wherever it runs, reads who is typing now. The marks are records of the shared store
 * so any isolate, process or node can set them and the single producer sees them all.
 *
 * @module
 */

import type { RecordStore } from "../hub/mod.ts";

/** How long a typing mark lasts. */
export const TYPING_TTL_MS = 4000;

/**
 * Marks `user` as typing now.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { markTyping, readTyping } from "./typing.ts";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * await markTyping(transport.records, "ada", 1_000);
 * const typing = await readTyping(transport.records, 2_000);
 * assert.deepEqual(typing, { users: ["ada"], lastActivity: 1_000 });
 * assert.deepEqual((await readTyping(transport.records, 9_000)).users, []);
 * transport.close();
 * ```
 */
export async function markTyping(
  records: RecordStore,
  user: string,
  now = Date.now(),
): Promise<void> {
  await records.set(["typing", user], now, { expireInMs: TYPING_TTL_MS * 3 });
}

/** Reads who is typing at `now` and the time of the latest typing mark. */
export async function readTyping(
  records: RecordStore,
  now = Date.now(),
): Promise<{ users: string[]; lastActivity: number | null }> {
  const users: string[] = [];
  let lastActivity: number | null = null;
  for await (const [key, time] of records.list<number>(["typing"])) {
    if (lastActivity === null || time > lastActivity) lastActivity = time;
    if (now - time < TYPING_TTL_MS) users.push(key[1] as string);
  }
  return { users: users.sort(), lastActivity };
}
