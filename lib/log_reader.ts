/**
 * Reading the KV event log: the global log `["log", seq]`, each topic's log
 * `["topic", topic, seq]`, the head and publisher-given ids. {@link EventLog} appends.
 *
 * @module
 */

import type { StoredUpdate } from "./update.ts";

/** The key holding the newest position of the log. */
export const HEAD: Deno.KvKey = ["head"];

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
  async read(afterSeq: number, untilSeq: number, limit = 1000): Promise<StoredUpdate[]> {
    const updates: StoredUpdate[] = [];
    if (untilSeq <= afterSeq) return updates;
    const iterator = this.kv.list<StoredUpdate>(
      { start: ["log", afterSeq + 1], end: ["log", untilSeq + 1] },
      { limit, batchSize: Math.min(limit, 1000) },
    );
    for await (const entry of iterator) updates.push(entry.value);
    return updates;
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
  async readTopic(
    topic: string,
    afterSeq: number,
    untilSeq: number,
    limit = 1000,
  ): Promise<StoredUpdate[]> {
    const updates: StoredUpdate[] = [];
    if (untilSeq <= afterSeq) return updates;
    const iterator = this.kv.list<StoredUpdate>(
      { start: ["topic", topic, afterSeq + 1], end: ["topic", topic, untilSeq + 1] },
      { limit, batchSize: Math.min(limit, 1000) },
    );
    for await (const entry of iterator) updates.push(entry.value);
    return updates;
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
    for await (
      const entry of this.kv.list<StoredUpdate>({ prefix: ["topic", topic] }, {
        reverse: true,
        limit: count,
      })
    ) seq = entry.value.seq - 1;
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
      const entry of this.kv.list<StoredUpdate>({ prefix: ["topic", topic] }, {
        reverse: true,
        limit: 1,
      })
    ) return entry.value;
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
    for await (const entry of this.kv.list<StoredUpdate>({ prefix: ["log"] }, { limit: 1 })) {
      return entry.value.seq;
    }
    return (await this.headSeq()) + 1;
  }
}
