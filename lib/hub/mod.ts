/**
 * The hub: the durable log, the broker that brings every position to every isolate once and in
 * order, the fan-out to subscribers, admission, leases and the transport seam. Code outside
 * `lib/hub/` imports from here; the `_`-prefixed modules are the hub's own.
 *
 * publish → log (transport) → broker → fan-out → subscription → bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hub } from "./mod.ts";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const hub = await Hub.open(transport);
 * const update = await hub.publish({ topics: ["news"], data: "hello" });
 * assert.deepEqual((await hub.readTopic("news", 0, update.seq)).map((u) => u.data), ["hello"]);
 * hub.close();
 * transport.close();
 * ```
 *
 * @module
 */

export * from "./hub.ts";
export * from "./update.ts";
export * from "./transport.ts";
export * from "./admission.ts";
export * from "./active_subscriptions.ts";
export { keepsTopicLog, OLD_MARK_SWEEP_EVERY_MS } from "./topic_logs.ts";
export * from "./connection_budget.ts";
export * from "./share_ledger.ts";
export * from "./data_filter.ts";
export * from "./lease.ts";
export type { SubscriptionOptions } from "./_subscription.ts";
