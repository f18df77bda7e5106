/// <reference lib="deno.worker" />
/**
 * A worker isolate running its own hub on a shared KV file, driven by messages, for tests of
 * delivery across isolates (BroadcastChannel + KV), e.g. `new Worker(new URL("./hub_worker.ts",
 * import.meta.url), { type: "module" })`.
 *
 * Commands: `{ cmd: "open", path }`, `{ cmd: "subscribe", topic }`, `{ cmd: "publish", topic,
 * count, sequential }`, `{ cmd: "block", ms }`, `{ cmd: "collect" }`, `{ cmd: "close" }`; each is
 * answered with `{ ok: true, ... }` or `{ ok: false, error }`.
 *
 * @module
 */

import { KvTransport } from "../../lib/kv/kv_transport.ts";
import { Hub } from "../../lib/hub/hub.ts";
import { retryingKv } from "../../lib/kv/busy_retry.ts";
import { SelectorSet } from "../../lib/topics/topic_selector.ts";

let kv: Deno.Kv | undefined;
let hub: Hub | undefined;
const received: Array<{ seq: number; data: string }> = [];
const stop = new AbortController();

async function handle(message: Record<string, unknown>): Promise<Record<string, unknown>> {
  switch (message.cmd) {
    case "open":
      kv = retryingKv(await Deno.openKv(message.path as string));
      hub = await Hub.open(new KvTransport(kv), { pollMs: 60_000 });
      return {};
    case "subscribe": {
      const batches = hub!.subscribeUpdates({
        selectors: new SelectorSet([message.topic as string]),
        accepts: () => true,
        signal: stop.signal,
      });
      (async () => {
        for await (const batch of batches) {
          for (const update of batch) received.push({ seq: update.seq, data: update.data });
        }
      })();
      return {};
    }
    case "publish": {
      const count = message.count as number;
      const ids: string[] = [];
      if (message.sequential) {
        for (let n = 0; n < count; n++) {
          ids.push(
            (await hub!.publish({
              topics: [message.topic as string],
              data: `${message.prefix}${n}`,
            })).id,
          );
        }
      } else {
        const all = await Promise.all(
          Array.from(
            { length: count },
            (_, n) =>
              hub!.publish({ topics: [message.topic as string], data: `${message.prefix}${n}` }),
          ),
        );
        ids.push(...all.map((update) => update.id));
      }
      return { ids };
    }
    case "block": {
      const until = Date.now() + (message.ms as number);
      while (Date.now() < until) { /* keep the event loop busy: messages pile up and drop */ }
      return {};
    }
    case "collect":
      await hub!.broker.idle();
      return { received, stats: hub!.broker.stats };
    case "close":
      stop.abort();
      hub?.close();
      kv?.close();
      return {};
  }
  throw new Error(`unknown command ${String(message.cmd)}`);
}

self.onmessage = async (event: MessageEvent<Record<string, unknown>>) => {
  try {
    self.postMessage({ ok: true, ...(await handle(event.data)) });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error) });
  }
};
