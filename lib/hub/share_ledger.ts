/**
 * The connection-budget ledger (see `connection_budget.ts`) kept in the hub's records, so every
 * engine has it: which isolate of a process holds how much of each limit, and which isolates are
 * alive. One scope per process; under it:
 *
 * - `["connection_budget", scope, "members"]` → `{ [isolate]: leaseUntil }` (ms since the epoch)
 * - `["connection_budget", scope, "held", budget]` → `{ [isolate]: slots held }`
 *
 * A holding counts only while its isolate's lease runs. Every change is one record transaction
 * that reads the members and the budgets it names, renews the committing isolate's lease, and
 * rewrites each budget without the holdings of isolates whose lease ran out: a crashed isolate's
 * share comes back to the pool the first time another isolate needs it after the lease expired.
 * The records expire a while after the last change, so a process that is gone leaves nothing.
 *
 * @module
 */

import type {
  BudgetState,
  RecordKey,
  RecordStore,
  RecordWrite,
  ShareLedger,
  ShareOutcome,
  ShareUpdate,
} from "./transport.ts";

type Holdings = { [isolate: string]: number };

/** How long the records outlive their last change, at least. */
const KEEP_MS = 10 * 60_000;

/**
 * The ledger of connection-budget shares in a record store.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RecordShareLedger } from "./share_ledger.ts";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const ledger = new RecordShareLedger(transport.records);
 * const take = (isolate: string, want: number) =>
 *   ledger.update({
 *     scope: "example", isolate, leaseMs: 10_000, budgets: ["*"],
 *     decide: (_budget, state) => Math.min(want, 5 - state.others),
 *   });
 * assert.equal((await take("a", 3))?.held.get("*"), 3);
 * assert.equal((await take("b", 4))?.held.get("*"), 2); // only 2 of the 5 are left
 * transport.close();
 * ```
 */
export class RecordShareLedger implements ShareLedger {
  /** Budgets one update may name (the members record makes one more read). */
  readonly maxBudgetsPerUpdate = 40;
  readonly #records: RecordStore;

  constructor(records: RecordStore) {
    this.#records = records;
  }

  update(update: ShareUpdate): Promise<ShareOutcome | undefined> {
    const { scope, isolate, budgets } = update;
    const membersKey: RecordKey = ["connection_budget", scope, "members"];
    const heldKeys: RecordKey[] = budgets.map((
      budget,
    ) => ["connection_budget", scope, "held", budget]);
    return this.#records.transact([membersKey, ...heldKeys], (values) => {
      const now = Date.now();
      const members = (values[0] ?? {}) as Holdings;
      const live: Holdings = {};
      for (const [id, until] of Object.entries(members)) {
        if (until > now && id !== isolate) live[id] = until;
      }
      const leaseUntil = update.leaving ? 0 : now + update.leaseMs;
      if (!update.leaving) live[isolate] = leaseUntil;
      const liveIsolates = Object.keys(live).length;
      const keep = Math.max(KEEP_MS, update.leaseMs * 10);
      const writes: RecordWrite[] = [{
        key: membersKey,
        value: liveIsolates > 0 ? live : undefined,
        expireInMs: keep,
      }];
      const held = new Map<string, number>();
      const states = new Map<string, BudgetState>();
      budgets.forEach((budget, index) => {
        const record = (values[index + 1] ?? {}) as Holdings;
        const kept: Holdings = {};
        const state: BudgetState = { recorded: record[isolate] ?? 0, others: 0, holders: [] };
        for (const [id, slots] of Object.entries(record)) {
          if (id === isolate || !(id in live)) continue;
          kept[id] = slots;
          state.others += slots;
          state.holders.push(id);
        }
        const next = Math.max(0, update.decide(budget, state, liveIsolates));
        if (next > 0) kept[isolate] = next;
        writes.push({
          key: heldKeys[index],
          value: Object.keys(kept).length > 0 ? kept : undefined,
          expireInMs: keep,
        });
        held.set(budget, next);
        states.set(budget, state);
      });
      return {
        writes,
        result: { held, states, leaseUntil, wasAlive: (members[isolate] ?? 0) > now },
      };
    });
  }
}
