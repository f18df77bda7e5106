/**
 * Prioritisation of a backlogged connection's batch (the updates due to it at one time).
 *
 * The rule:
 * 1. Updates with a higher `priority` are sent first. Within one topic the log order is never
 *    changed: an update never overtakes an earlier update of its own (canonical) topic.
 * 2. Updates with a negative priority are conflatable: in a batch, only the newest of each topic
 *    is kept.
 * 3. Replay ids stay safe: an update sent ahead of an earlier position goes without an `id:` line
 *    (so the client's Last-Event-ID does not jump past updates it has not received yet), and the
 *    batch ends with an `id:` line (no data) for its newest position. A reconnect in the middle of
 *    a batch may therefore receive the updates that went early once more; nothing is ever skipped.
 *
 * With every priority 0 (the default) the batch is sent as it is.
 *
 * @module
 */

import { encodeEvent } from "../sse/mod.ts";
import { type StoredUpdate, updateBytes } from "./update.ts";
import { concatBytes } from "../util/bytes.ts";

/** One update of a prioritised batch. */
export interface PlannedUpdate {
  update: StoredUpdate;
  /** False when the update goes ahead of an earlier position and must not carry its id. */
  withId: boolean;
}

/**
 * Orders (and conflates) a batch by the rule above. Returns the plan and the id that closes it
 * (undefined when no update moved, so the ids already end at the newest position).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prioritise } from "./_priority.ts";
 * const low = { seq: 1, id: "a", topics: ["feed"], data: "1", time: 0 };
 * const high = { seq: 2, id: "b", topics: ["alerts"], data: "2", time: 0, priority: 5 };
 * const { plan, closingId } = prioritise([low, high]);
 * assert.equal(plan[0].update.id, "b");
 * assert.equal(plan[0].withId, false);
 * assert.equal(closingId, "b");
 * ```
 */
export function prioritise(batch: StoredUpdate[]): { plan: PlannedUpdate[]; closingId?: string } {
  if (batch.length < 2 || batch.every((update) => !update.priority)) {
    return { plan: batch.map((update) => ({ update, withId: true })) };
  }
  // Conflate negative-priority updates: keep the newest per topic.
  const newestLow = new Map<string, number>();
  for (const update of batch) {
    if ((update.priority ?? 0) < 0) newestLow.set(update.topics[0], update.seq);
  }
  const kept = batch.filter((update) =>
    (update.priority ?? 0) >= 0 || newestLow.get(update.topics[0]) === update.seq
  );
  // Effective priority: the highest priority of this update and any later one of its topic, so a
  // stable sort never moves an update ahead of an earlier one of the same topic.
  const effective = new Map<StoredUpdate, number>();
  const highestLater = new Map<string, number>();
  for (let i = kept.length - 1; i >= 0; i--) {
    const update = kept[i];
    const topic = update.topics[0];
    const value = Math.max(update.priority ?? 0, highestLater.get(topic) ?? -Infinity);
    highestLater.set(topic, value);
    effective.set(update, value);
  }
  const ordered = kept.map((update, index) => ({ update, index }))
    .sort((a, b) => effective.get(b.update)! - effective.get(a.update)! || a.index - b.index)
    .map(({ update }) => update);
  // An update may carry its id only when it is the oldest not yet sent.
  const sent = new Set<StoredUpdate>();
  let oldestUnsent = 0;
  let moved = false;
  const plan = ordered.map((update) => {
    const withId = update === kept[oldestUnsent];
    if (!withId) moved = true;
    sent.add(update);
    while (oldestUnsent < kept.length && sent.has(kept[oldestUnsent])) oldestUnsent++;
    return { update, withId };
  });
  const newest = batch[batch.length - 1];
  const lastSent = plan[plan.length - 1].update;
  return { plan, closingId: moved || lastSent !== newest ? newest.id : undefined };
}

/**
 * Encodes a batch for an event stream, prioritised by the rule above.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePrioritisedBatch } from "./_priority.ts";
 * const bytes = encodePrioritisedBatch([{ seq: 1, id: "a", topics: ["t"], data: "x", time: 0 }]);
 * assert.equal(new TextDecoder().decode(bytes), "id: a\ndata: x\n\n");
 * ```
 */
export function encodePrioritisedBatch(batch: StoredUpdate[]): Uint8Array {
  const { plan, closingId } = prioritise(batch);
  const parts = plan.map(({ update, withId }) =>
    withId ? updateBytes(update) : encoder.encode(
      encodeEvent({ event: update.type, retry: update.retry, data: update.data }),
    )
  );
  if (closingId !== undefined) parts.push(encoder.encode(encodeEvent({ id: closingId })));
  return concatBytes(parts);
}

const encoder = new TextEncoder();
