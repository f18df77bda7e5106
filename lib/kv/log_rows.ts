/**
 * The log's rows in Deno KV. A commit stores its updates packed: the global log gets one value per
 * commit (`["log", firstSeq]` → updates), each topic one value with that topic's updates
 * (`["topic", topic, firstSeq]` → updates), split only where a value would pass KV's 64 KiB. A KV
 * commit costs by the row, so packing is what lets one commit carry hundreds of updates cheaply.
 * Reading cuts rows back to the range asked for.
 *
 * @module
 */

import { MAX_UPDATE_SIZE, type StoredUpdate } from "../hub/mod.ts";

/** A log row's value: the updates of one commit (or one update, in rows written before packing). */
export type LogRow = StoredUpdate[] | StoredUpdate;

/**
 * The updates of a row, whichever form it was written in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowUpdates } from "./log_rows.ts";
 * const update = { seq: 1, id: "a", topics: ["t"], data: "", time: 0 };
 * assert.deepEqual(rowUpdates(update), [update]);
 * assert.deepEqual(rowUpdates([update]), [update]);
 * ```
 */
export function rowUpdates(row: LogRow): StoredUpdate[] {
  return Array.isArray(row) ? row : [row];
}

/**
 * Reads the updates with `afterSeq < seq <= untilSeq` from the rows under `prefix`, oldest first,
 * at most `limit`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readRange } from "./log_rows.ts";
 * const kv = await Deno.openKv(":memory:");
 * const at = (seq: number) => ({ seq, id: `${seq}`, topics: ["t"], data: "", time: 0 });
 * await kv.set(["log", 1], [at(1), at(2)]);
 * await kv.set(["log", 3], [at(3)]);
 * assert.deepEqual((await readRange(kv, ["log"], 1, 3, 10)).map((u) => u.seq), [2, 3]);
 * kv.close();
 * ```
 */
export async function readRange(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
  afterSeq: number,
  untilSeq: number,
  limit: number,
): Promise<StoredUpdate[]> {
  const updates: StoredUpdate[] = [];
  if (untilSeq <= afterSeq || limit <= 0) return updates;
  const take = (row: LogRow): boolean => {
    for (const update of rowUpdates(row)) {
      if (update.seq <= afterSeq) continue;
      if (update.seq > untilSeq) return false;
      updates.push(update);
      if (updates.length === limit) return false;
    }
    return true;
  };
  // The row holding position afterSeq + 1 may start before it.
  const before = kv.list<LogRow>({ start: prefix, end: [...prefix, afterSeq + 2] }, {
    reverse: true,
    limit: 1,
  });
  for await (const entry of before) if (!take(entry.value)) return updates;
  const rows = kv.list<LogRow>(
    { start: [...prefix, afterSeq + 2], end: [...prefix, untilSeq + 1] },
    { batchSize: Math.min(limit, 500) },
  );
  for await (const entry of rows) if (!take(entry.value)) break;
  return updates;
}

/**
 * Splits updates (in log order) into runs that each fit one KV value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { packRows } from "./log_rows.ts";
 * const at = (seq: number) => ({ seq, id: `${seq}`, topics: ["t"], data: "", time: 0 });
 * const updates = [at(1), at(2), at(3)];
 * const sizes = new Map(updates.map((update) => [update, 30_000]));
 * assert.deepEqual(packRows(updates, sizes).map((row) => row.length), [2, 1]);
 * ```
 */
export function packRows(
  updates: StoredUpdate[],
  sizes: Map<StoredUpdate, number>,
): StoredUpdate[][] {
  const chunks: StoredUpdate[][] = [];
  let chunk: StoredUpdate[] = [];
  let bytes = 0;
  for (const update of updates) {
    const size = sizes.get(update)!;
    if (chunk.length > 0 && bytes + size > MAX_UPDATE_SIZE) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(update);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
