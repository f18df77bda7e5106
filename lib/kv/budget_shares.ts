/**
 * The Deno KV ledger behind the connection budget (`lib/hub/connection_budget.ts`): which isolate holds how much of each limit, and
 * which isolates are alive. One scope per process; under it:
 *
 * - `["connection_budget", scope, "members"]` → `{ [isolate]: leaseUntil }` (ms since the epoch)
 * - `["connection_budget", scope, "held", budget]` → `{ [isolate]: slots held }`
 *
 * A holding counts only while its isolate's lease runs. Every change is one atomic commit that
 * checks every record it read, renews the committing isolate's lease, and rewrites every budget
 * it read without the holdings of isolates whose lease ran out: a crashed isolate's share comes
 * back to the pool the first time another isolate needs it after the lease expired.
 *
 * @module
 */

import type { BudgetState, ShareLedger, ShareOutcome, ShareUpdate } from "../hub/mod.ts";
import { budgetHeldKey as heldKey, budgetMembersKey as membersKey } from "./keys.ts";

type Record = { [isolate: string]: number };

/** The most budgets one commit may touch. */
export const MAX_BUDGETS_PER_COMMIT = 40;

async function readAll(kv: Deno.Kv, keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<Record>[]> {
  const reads = [];
  for (let start = 0; start < keys.length; start += 10) {
    reads.push(kv.getMany<Record[]>(keys.slice(start, start + 10)));
  }
  return (await Promise.all(reads)).flat();
}

/**
 * Reads the budgets, lets `decide` set this isolate's holding in each, and commits that with a
 * renewed lease. Resolves to `undefined` when another isolate committed in between (try again).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { updateShares } from "./budget_shares.ts";
 * const kv = await Deno.openKv(":memory:");
 * const take = (isolate: string, want: number) =>
 *   updateShares(kv, {
 *     scope: "example", isolate, leaseMs: 10_000, budgets: ["*"],
 *     decide: (_budget, state) => Math.min(want, 5 - state.others),
 *   });
 * assert.equal((await take("a", 3))?.held.get("*"), 3);
 * assert.equal((await take("b", 4))?.held.get("*"), 2); // only 2 of the 5 are left
 * kv.close();
 * ```
 */
export async function updateShares(
  kv: Deno.Kv,
  update: ShareUpdate,
): Promise<ShareOutcome | undefined> {
  const { scope, isolate, budgets } = update;
  const keys = [membersKey(scope), ...budgets.map((budget) => heldKey(scope, budget))];
  const entries = await readAll(kv, keys);
  const now = Date.now();
  const members = entries[0].value ?? {};
  const live: Record = {};
  for (const [id, until] of Object.entries(members)) {
    if (until > now && id !== isolate) live[id] = until;
  }
  const leaseUntil = update.leaving ? 0 : now + update.leaseMs;
  if (!update.leaving) live[isolate] = leaseUntil;
  const liveIsolates = Object.keys(live).length;
  const atomic = kv.atomic();
  for (const entry of entries) atomic.check(entry);
  if (Object.keys(live).length > 0) atomic.set(keys[0], live);
  else atomic.delete(keys[0]);
  const held = new Map<string, number>();
  const states = new Map<string, BudgetState>();
  budgets.forEach((budget, index) => {
    const record = entries[index + 1].value ?? {};
    const kept: Record = {};
    const state: BudgetState = { recorded: record[isolate] ?? 0, others: 0, holders: [] };
    for (const [id, slots] of Object.entries(record)) {
      if (id === isolate || !(id in live)) continue;
      kept[id] = slots;
      state.others += slots;
      state.holders.push(id);
    }
    const next = Math.max(0, update.decide(budget, state, liveIsolates));
    if (next > 0) kept[isolate] = next;
    if (Object.keys(kept).length > 0) atomic.set(keys[index + 1], kept);
    else atomic.delete(keys[index + 1]);
    held.set(budget, next);
    states.set(budget, state);
  });
  const result = await atomic.commit();
  if (!result.ok) return undefined;
  return { held, states, leaseUntil, wasAlive: (members[isolate] ?? 0) > now };
}

/**
 * The ledger of connection-budget shares in a Deno KV store.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvShareLedger } from "./budget_shares.ts";
 * const kv = await Deno.openKv(":memory:");
 * const ledger = new KvShareLedger(kv);
 * const outcome = await ledger.update({
 *   scope: "example", isolate: "a", leaseMs: 10_000, budgets: ["*"], decide: () => 2,
 * });
 * assert.equal(outcome?.held.get("*"), 2);
 * kv.close();
 * ```
 */
export class KvShareLedger implements ShareLedger {
  readonly maxBudgetsPerUpdate = MAX_BUDGETS_PER_COMMIT;
  readonly #kv: Deno.Kv;

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  update(update: ShareUpdate): Promise<ShareOutcome | undefined> {
    return updateShares(this.#kv, update);
  }
}
