/**
 * Reading the KV event log: the global log, each topic's log, the head and publisher-given ids.
 * {@link EventLog} appends.
 *
 * A log row `["log", seq]` or `["topic", topic, seq]` holds the updates of one commit from
 * position `seq` on (rows written before packing hold a single update); readers unpack rows and
 * cut them to the range asked for.
 *
 * @module
 */

import type { StoredUpdate } from "./update.ts";

/** The key holding the newest position of the log. */
export const HEAD: Deno.KvKey = ["head"];

/** A log row's value: the updates of one commit (or one update, in rows written before packing). */
export type LogRow = StoredUpdate[] | StoredUpdate;

/**
 * The updates of a log row, oldest first.
 *
 * @example
 * ```ts
 * import { rowUpdates } from "./log_reader.ts";
 * const update = { seq: 1, id: "a", topics: ["t"], data: "x", time: 0 };
 * console.assert(rowUpdates(update)[0] === update && rowUpdates([update]).length === 1);
 * ```
 */
export function rowUpdates(row: LogRow): StoredUpdate[] {
  return Array.isArray(row) ? row : [row];
}

/**
 * Reads the updates of a log (`prefix` is `["log"]` or `["topic", topic]`) after `afterSeq`, up
 * to and including `untilSeq`, at most `limit` of them, oldest first.
 *
 * @example
 * ```ts
 * import { EventLog } from "./event_log.ts";
 * import { readRange } from "./log_reader.ts";
 * const kv = await Deno.openKv(":memory:");
 * const log = await EventLog.open(kv);
 * await Promise.all(["1", "2", "3"].map((data) => log.append({ topics: ["t"], data })));
 * const middle = await readRange(kv, ["topic", "t"], 1, 2, 10);
 * console.assert(middle.length === 1 && middle[0].data === "2");
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
 * The read side of the log.
 *
 * @example
 * ```ts
 * import { LogReader } from "./log_reader.ts";
 * const kv = await Deno.openKv(":memory:");
 * console.assert((await new LogReader(kv).headSeq()) === 0);
 * kv.close();
 * ```
 */
export class LogReader {
  readonly kv: Deno.Kv;

  /**
   * @example
   * ```ts
   * import { LogReader } from "./log_reader.ts";
   * const kv = await Deno.openKv(":memory:");
   * console.assert(new LogReader(kv).kv === kv);
   * kv.close();
   * ```
   */
  constructor(kv: Deno.Kv) {
    this.kv = kv;
  }

  /**
   * The position of the newest update in KV (0 when empty).
   *
   * @example
   * ```ts
   * import { EventLog } from "./event_log.ts";
   * const kv = await Deno.openKv(":memory:");
   * const log = await EventLog.open(kv);
   * console.assert((await log.headSeq()) === 0);
   * kv.close();
   * ```
   */
  async headSeq(): Promise<number> {
    return (await this.kv.get<number>(HEAD)).value ?? 0;
  }

  /**
   * Reads the global log after `afterSeq`, up to and including `untilSeq`, at most `limit` updates.
   *
   * @example
   * ```ts
   * import { EventLog } from "./event_log.ts";
   * const kv = await Deno.openKv(":memory:");
   * const log = await EventLog.open(kv);
   * await log.append({ topics: ["t"], data: "x" });
   * console.assert((await log.read(0, 10)).length === 1);
   * kv.close();
   * ```
   */
  read(afterSeq: number, untilSeq: number, limit = 1000): Promise<StoredUpdate[]> {
    return readRange(this.kv, ["log"], afterSeq, untilSeq, limit);
  }

  /**
   * Reads one topic's log after `afterSeq`, up to and including `untilSeq`.
   *
   * @example
   * ```ts
   * import { EventLog } from "./event_log.ts";
   * const kv = await Deno.openKv(":memory:");
   * const log = await EventLog.open(kv);
   * await log.append({ topics: ["a"], data: "x" });
   * await log.append({ topics: ["b"], data: "y" });
   * console.assert((await log.readTopic("b", 0, 10)).length === 1);
   * kv.close();
   * ```
   */
  readTopic(
    topic: string,
    afterSeq: number,
    untilSeq: number,
    limit = 1000,
  ): Promise<StoredUpdate[]> {
    return readRange(this.kv, ["topic", topic], afterSeq, untilSeq, limit);
  }

  /**
   * The position just before the `count` newest updates of a topic (to replay the current state).
   *
   * @example
   * ```ts
   * import { EventLog } from "./event_log.ts";
   * const kv = await Deno.openKv(":memory:");
   * const log = await EventLog.open(kv);
   * await log.append({ topics: ["t"], data: "1" });
   * await log.append({ topics: ["t"], data: "2" });
   * console.assert((await log.seqBeforeNewest("t", 1)) === 1);
   * kv.close();
   * ```
   */
  async seqBeforeNewest(topic: string, count: number): Promise<number> {
    let seq = 0;
    let seen = 0;
    if (count <= 0) return this.headSeq();
    for await (
      const entry of this.kv.list<LogRow>({ prefix: ["topic", topic] }, { reverse: true })
    ) {
      const updates = rowUpdates(entry.value);
      for (let i = updates.length - 1; i >= 0; i--) {
        seq = updates[i].seq - 1;
        if (++seen === count) return seq;
      }
    }
    return seq;
  }

  /**
   * The newest update of a topic, if any.
   *
   * @example
   * ```ts
   * import { EventLog } from "./event_log.ts";
   * const kv = await Deno.openKv(":memory:");
   * const log = await EventLog.open(kv);
   * await log.append({ topics: ["t"], data: "1" });
   * console.assert((await log.newest("t"))?.data === "1");
   * kv.close();
   * ```
   */
  async newest(topic: string): Promise<StoredUpdate | undefined> {
    for await (
      const entry of this.kv.list<LogRow>({ prefix: ["topic", topic] }, { reverse: true, limit: 1 })
    ) return rowUpdates(entry.value).at(-1);
    return undefined;
  }

  /**
   * The update at position `seq`, from the global log or else from one of `topics`' logs (each log
   * is trimmed on its own); `undefined` when none of them holds it any more.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { EventLog } from "./event_log.ts";
   * const kv = await Deno.openKv(":memory:");
   * const log = await EventLog.open(kv);
   * await log.append({ topics: ["a"], data: "x" });
   * await log.append({ topics: ["b"], data: "y" });
   * assert.equal((await log.updateAt(2))?.data, "y");
   * assert.equal(await log.updateAt(3), undefined);
   * kv.close();
   * ```
   */
  async updateAt(seq: number, topics: Iterable<string> = []): Promise<StoredUpdate | undefined> {
    const [found] = await this.read(seq - 1, seq, 1);
    if (found !== undefined) return found;
    for (const topic of topics) {
      const [inTopic] = await this.readTopic(topic, seq - 1, seq, 1);
      if (inTopic !== undefined) return inTopic;
    }
    return undefined;
  }

  /**
   * The position of the update a publisher gave `id` to, if the hub still knows it.
   *
   * @example
   * ```ts
   * import { EventLog } from "./event_log.ts";
   * const kv = await Deno.openKv(":memory:");
   * const log = await EventLog.open(kv);
   * await log.append({ topics: ["t"], data: "x", id: "mine" });
   * console.assert((await log.seqOfId("mine")) === 1);
   * kv.close();
   * ```
   */
  async seqOfId(id: string): Promise<number | undefined> {
    return (await this.kv.get<number>(["id", id])).value ?? undefined;
  }

  /**
   * The oldest position still in the global log (head + 1 when it is empty).
   *
   * @example
   * ```ts
   * import { EventLog } from "./event_log.ts";
   * const kv = await Deno.openKv(":memory:");
   * const log = await EventLog.open(kv);
   * console.assert((await log.oldestSeq()) === 1);
   * kv.close();
   * ```
   */
  async oldestSeq(): Promise<number> {
    for await (const entry of this.kv.list<LogRow>({ prefix: ["log"] }, { limit: 1 })) {
      return rowUpdates(entry.value)[0].seq;
    }
    return (await this.headSeq()) + 1;
  }
}
