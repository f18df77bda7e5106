/**
 * Who may see an update: the private-update rule of Mercure. A private update goes only to
 * subscribers whose token's `mercure.subscribe` matches one of its topics (canonical or
 * alternate); a public one to everyone. Live delivery, replay and resuming from `Last-Event-ID`
 * all ask this one function.
 *
 * @module
 */

import { canReceivePrivate, type MercureClaims } from "../auth/mercure_auth.ts";
import { matchesSelector } from "../topics/mod.ts";
import type { StoredUpdate } from "./update.ts";

/**
 * Whether a subscriber with `claims` may see `update` (the private-update rule).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mayReceive } from "./_visibility.ts";
 * const update = { seq: 1, id: "a", topics: ["/users/ann"], data: "", time: 0, private: true };
 * assert.equal(mayReceive(undefined, update), false);
 * assert.equal(mayReceive({ subscribe: ["/users/{name}"] }, update), true);
 * assert.equal(mayReceive({ subscribe: ["/users/bo"] }, update), false);
 * assert.equal(mayReceive(undefined, { ...update, private: undefined }), true);
 * ```
 */
export function mayReceive(claims: MercureClaims | undefined, update: StoredUpdate): boolean {
  return !update.private || canReceivePrivate(claims, update.topics, matchesSelector);
}
