/**
 * The connection-budget ledger (see `lib/hub/connection_budget.ts`) in Redis, for the isolates of
 * one process: the same records and rules as the Deno KV ledger (`lib/kv/budget_shares.ts`), one
 * string per record (`budget:<scope>:members`, `budget:<scope>:held:<budget>`, JSON), and every
 * change one compare-and-set script that checks what it read. Scopes name processes (host and
 * process id), so nodes never share a budget: the limits stay per process, as documented.
 *
 * @module
 */

import type { BudgetState, ShareLedger, ShareOutcome, ShareUpdate } from "../hub/mod.ts";
import type { RedisClient } from "./client.ts";
import type { RedisKeys } from "./keys.ts";
import { COMPARE_AND_SET } from "./scripts.ts";

type Holdings = { [isolate: string]: number };

/**
 * The ledger of connection-budget shares in Redis.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { RedisShareLedger } from "./shares.ts";
 * const ledger = new RedisShareLedger(client, keys);
 * const outcome = await ledger.update({
 *   scope: "example", isolate: "a", leaseMs: 10_000, budgets: ["*"], decide: () => 2,
 * });
 * assert.equal(outcome?.held.get("*"), 2);
 * ```
 */
export class RedisShareLedger implements ShareLedger {
  readonly maxBudgetsPerUpdate = 40;
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;

  constructor(client: RedisClient, keys: RedisKeys) {
    this.#client = client;
    this.#keys = keys;
  }

  async update(update: ShareUpdate): Promise<ShareOutcome | undefined> {
    const { scope, isolate, budgets } = update;
    const keys = [
      this.#keys.budgetMembers(scope),
      ...budgets.map((budget) => this.#keys.budgetHeld(scope, budget)),
    ];
    const read = await this.#client.command(["MGET", ...keys]) as (string | null)[];
    const parse = (text: string | null): Holdings => text === null ? {} : JSON.parse(text);
    const now = Date.now();
    const members = parse(read[0]);
    const live: Holdings = {};
    for (const [id, until] of Object.entries(members)) {
      if (until > now && id !== isolate) live[id] = until;
    }
    const leaseUntil = update.leaving ? 0 : now + update.leaseMs;
    if (!update.leaving) live[isolate] = leaseUntil;
    const liveIsolates = Object.keys(live).length;
    const writes: string[] = [liveIsolates > 0 ? JSON.stringify(live) : ""];
    const held = new Map<string, number>();
    const states = new Map<string, BudgetState>();
    budgets.forEach((budget, index) => {
      const record = parse(read[index + 1]);
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
      writes.push(Object.keys(kept).length > 0 ? JSON.stringify(kept) : "");
      held.set(budget, next);
      states.set(budget, state);
    });
    const written = await COMPARE_AND_SET.run(this.#client, keys, [
      ...read.map((value) => value ?? ""),
      ...writes,
    ]);
    if (written !== 1) return undefined;
    return { held, states, leaseUntil, wasAlive: (members[isolate] ?? 0) > now };
  }
}
