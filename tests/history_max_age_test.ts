/**
 * `TIDINGS_HISTORY_MAX_AGE_S`: updates older than the maximum age leave the history, per topic
 * and in the hub-wide log, even when the count limit would keep them. The age rule is tested with
 * the retention's clock injected; the setting end to end on a real server.
 *
 * @module
 */

import assert from "node:assert/strict";
import { EventLog } from "../lib/hub/_event_log.ts";
import { KvTransport } from "../lib/kv/kv_transport.ts";
import { trim, trimmedUpTo } from "../lib/kv/retention.ts";
import { waitUntil } from "./support/hub_probe.ts";
import { hubUrl } from "./support/mercure.ts";
import { startServer } from "./support/server.ts";
import { openSubscribed, publishAccepted } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

Deno.test("retention deletes exactly the updates older than the maximum age, by the clock it is given", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = await EventLog.open(new KvTransport(kv));
    const old = await log.append({ topics: ["news"], data: "old" });
    // A later update, a clock tick after the old one.
    await waitUntil("the clock to move", () => Date.now() > old.time);
    const fresh = await log.append({ topics: ["news"], data: "fresh" });
    const policy = { perTopic: 1000, global: 10_000, maxAgeMs: 60_000 };
    // Exactly at the age limit: not old enough yet.
    assert.equal(await trim(kv, ["news"], policy, old.time + 60_000), 0);
    // One millisecond later it is past it: its row leaves the topic log and the hub-wide log.
    assert.equal(await trim(kv, ["news"], policy, old.time + 60_001), 2);
    assert.deepEqual((await log.readTopic("news", 0, 10)).map((update) => update.data), ["fresh"]);
    assert.deepEqual((await log.read(0, fresh.seq, 10)).map((update) => update.data), ["fresh"]);
    assert.equal(await trimmedUpTo(kv, "news"), old.seq);
    assert.equal(await trimmedUpTo(kv, "*"), old.seq);
  } finally {
    kv.close();
  }
});

Deno.test("with TIDINGS_HISTORY_MAX_AGE_S=1 a replay from earliest no longer holds updates past a second", async () => {
  const server = await startServer({
    env: { TIDINGS_DEMO_FEEDS: "off", TIDINGS_HISTORY_MAX_AGE_S: "1" },
  });
  try {
    const token = await mercureToken({ publish: ["*"] });
    const old = await publishAccepted(server.url, token, { topic: "aging", data: "old" });
    // The retention pass trims the topics written since the last pass: keep writing to the topic
    // until the old update is gone (the count limit, 1000, never trims here).
    let latest = old.body;
    await waitUntil("the old update to leave the history", async () => {
      latest = (await publishAccepted(server.url, token, { topic: "aging", data: "new" })).body;
      const ids = await replayIds(server.url, latest);
      return !ids.includes(old.body);
    }, 20_000);
    const ids = await replayIds(server.url, latest);
    assert.equal(ids.at(-1), latest, "the newest update is still there");
  } finally {
    await server.close();
  }
});

/** The ids a replay from earliest holds, up to and including `last` (published before). */
async function replayIds(baseUrl: string, last: string): Promise<string[]> {
  const stream = await openSubscribed(
    hubUrl(baseUrl, [["topic", "aging"], ["lastEventID", "earliest"]]),
  );
  try {
    for (let count = 1;; count++) {
      const events = await stream.waitFor(count);
      if (events[count - 1].lastEventId === last) return events.map((event) => event.lastEventId);
    }
  } finally {
    await stream.close();
  }
}
