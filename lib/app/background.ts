/**
 * The jobs each isolate competes to run once per cluster: the shared demo feeds and retention.
 *
 * @module
 */

import { listSubscriptions, type RecordStore } from "../hub/mod.ts";
import type { AppContext } from "./context.ts";
import { runSharedFeed } from "../feeds/producers.ts";
import { chatFeed } from "../feeds/chat.ts";
import { clockFeed } from "../feeds/clock.ts";
import { stocksFeed } from "../feeds/stocks.ts";
import { systemFeed } from "../feeds/system.ts";
import { sleep } from "../util/abortable.ts";
import { readTyping } from "../feeds/typing.ts";
import { log } from "../util/logger.ts";

/**
 * The chat room's presence: user names of live subscriptions to the `chat` topic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chatPresence } from "./background.ts";
 * import { Hub } from "../hub/mod.ts";
 * import { openSubscription } from "../hub/mod.ts";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const hub = await Hub.open(transport);
 * await openSubscription(hub, "chat", "urn:uuid:2", { user: "bo" });
 * await openSubscription(hub, "chat", "urn:uuid:1", { user: "ann" });
 * assert.deepEqual(await chatPresence(hub.records), ["ann", "bo"]);
 * hub.close();
 * transport.close();
 * ```
 */
export async function chatPresence(records: RecordStore): Promise<string[]> {
  const users = new Set<string>();
  for (const record of await listSubscriptions(records, "chat")) {
    const user = (record.payload as { user?: unknown } | undefined)?.user;
    if (typeof user === "string") users.add(user);
  }
  return [...users].sort();
}

/**
 * Starts the demo feeds (when enabled) and the retention job; all stop at hub shutdown.
 */
export function startBackgroundJobs(context: AppContext): void {
  const { hub, config } = context;
  const signal = hub.closing;
  const speed = config.feedSpeed;
  if (config.demoFeeds) {
    runSharedFeed(hub, "clock", (held) => clockFeed({ signal: held, speed }), signal);
    runSharedFeed(
      hub,
      "stocks",
      (held) => stocksFeed({ signal: held, speed, symbols: config.stockSymbols }),
      signal,
    );
    runSharedFeed(hub, "system", (held) => systemFeed({ signal: held, speed }), signal);
    let typing = { users: [] as string[], lastActivity: null as number | null };
    runSharedFeed(hub, "chat", (held) =>
      chatFeed({
        signal: held,
        speed,
        presence: async () => {
          typing = await readTyping(hub.records);
          return chatPresence(hub.records);
        },
        typing: {
          typingUsers: () => typing.users,
          lastActivity: () =>
            typing.lastActivity === null ? null : new Date(typing.lastActivity).toISOString(),
        },
        intervalMs: 1000,
      }), signal);
  }
  // Every isolate trims the topics it wrote to (idempotent deletes), and now and then all topics,
  // so age-based retention also reaches topics nobody writes to any more.
  (async () => {
    const policy = {
      perTopic: config.historySize,
      global: Math.max(config.historySize * 10, 10_000),
      maxAgeMs: config.historyMaxAgeSeconds * 1000,
    };
    let nextFullPass = Date.now() + 60_000;
    while (await sleep(5000, signal)) {
      try {
        // Subscription topics keep no log (`lib/hub/topic_logs.ts`), so a storm of connections
        // adds nothing to this pass.
        const everyTopic = Date.now() > nextFullPass;
        if (everyTopic) nextFullPass = Date.now() + 3_600_000;
        const deleted = await hub.trimHistory(policy, { everyTopic });
        if (deleted > 0) log("debug", "retention trimmed", { deleted });
      } catch (error) {
        if (!signal.aborted) log("warn", "retention pass failed", { error: String(error) });
      }
    }
  })();
}
