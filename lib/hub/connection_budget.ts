/**
 * Exact connection limits across the isolates of a process (`TIDINGS_MAX_CONNECTIONS`,
 * `TIDINGS_MAX_CONNECTIONS_PER_IP`), never exceeded under any burst.
 *
 * Each isolate holds a share of every budget (the process total, and one per client address) in
 * the transport's share ledger, and admits from its share with no I/O. When its share is used up it
 * borrows from the pool in one atomic commit for every admission waiting at that moment; the
 * commit checks what it read, so the isolates' shares never add up past the limit. When the pool
 * is empty but other isolates hold unused share, the borrower asks them over a BroadcastChannel
 * to return it and waits for their answers (at most `reclaimWaitMs`), then borrows once more; only
 * then does it refuse. Unused share goes back to the pool on request, and on the periodic lease
 * renewal (a client address with no open connection keeps none). A crashed isolate stops renewing
 * its lease, and its share returns to the pool when the lease runs out.
 *
 * @module
 */

import { log } from "../util/logger.ts";
import type { BudgetState, ShareLedger, ShareOutcome } from "./transport.ts";

/** Why a connection was refused. */
export type BudgetRefusal = "max_connections" | "max_connections_per_ip" | "budget_unavailable";

/** Options of {@link ConnectionBudget}. */
export interface ConnectionBudgetOptions {
  /** Open connections allowed in the process. */
  maxConnections: number;
  /** Open connections allowed per client address in the process. */
  maxConnectionsPerIp: number;
  /** Isolates with the same scope share the budgets. Default: host name and process id. */
  scope?: string;
  /** How long a share outlives an isolate that stopped renewing it, ms. Default 10000. */
  leaseMs?: number;
  /** How long a borrower waits for other isolates to return unused share, ms. Default 500. */
  reclaimWaitMs?: number;
}

interface Share {
  held: number;
  used: number;
}

interface Waiter {
  ip: string;
  resolve: (refusal: BudgetRefusal | undefined) => void;
  reclaimed: boolean;
}

type BudgetMessage =
  | { scope: string; reclaim: string[]; from: string; round: string }
  | { scope: string; returned: string; by: string; to: string };

/** The process total; client addresses never look like this. */
const TOTAL = "*";
/** After a reclaim, isolates borrow only what they need for this long, ms. */
const SCARCE_MS = 2000;

const channel = new BroadcastChannel("tidings-connection-budget");
const listeners = new Set<(message: BudgetMessage) => void>();
channel.onmessage = (event: MessageEvent<BudgetMessage>) => {
  for (const listener of listeners) listener(event.data);
};

/** Sends to the other isolates, and to the other budgets of this one (a channel skips its own). */
function post(message: BudgetMessage): void {
  queueMicrotask(() => {
    for (const listener of listeners) listener(message);
  });
  try {
    channel.postMessage(message);
  } catch {
    // Best effort: an unanswered request times out and the borrower decides with what it has.
  }
}

function processScope(): string {
  let host = "";
  try {
    host = Deno.hostname();
  } catch {
    // No permission: the process id alone still separates processes on one machine.
  }
  return `${host}/${Deno.pid}`;
}

/**
 * The connection budget of one isolate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionBudget } from "./connection_budget.ts";
 * import { RecordShareLedger } from "./share_ledger.ts";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * const kv = await Deno.openKv(":memory:");
 * const options = { maxConnections: 3, maxConnectionsPerIp: 2, scope: "example" };
 * const first = new ConnectionBudget(new RecordShareLedger(new KvTransport(kv).records), options);
 * const second = new ConnectionBudget(new RecordShareLedger(new KvTransport(kv).records), options); // another isolate, same process
 * assert.equal(await first.admit("10.0.0.1"), undefined);
 * assert.equal(await second.admit("10.0.0.1"), undefined);
 * assert.equal(await second.admit("10.0.0.1"), "max_connections_per_ip");
 * assert.equal(await first.admit("10.0.0.2"), undefined);
 * assert.equal(await second.admit("10.0.0.3"), "max_connections");
 * first.release("10.0.0.2");
 * assert.equal(await second.admit("10.0.0.3"), undefined); // first returned the slot
 * first.close();
 * second.close();
 * kv.close();
 * ```
 */
export class ConnectionBudget {
  readonly isolate: string = crypto.randomUUID();
  /** KV commits, conflicts (retried) and reclaim requests sent, for metrics. */
  readonly stats = { commits: 0, conflicts: 0, reclaims: 0 };
  #ledger: ShareLedger;
  #scope: string;
  #limits: { total: number; perIp: number };
  #leaseMs: number;
  #reclaimWaitMs: number;
  #shares = new Map<string, Share>();
  #leaseUntil = 0;
  #retired = false;
  #pending: Waiter[] = [];
  #borrowQueued = false;
  #chain: Promise<void> = Promise.resolve();
  #scarceUntil = 0;
  #rounds = new Map<string, { waiting: Set<string>; finish: () => void }>();
  #timer: ReturnType<typeof setInterval>;
  #listener = (message: BudgetMessage) => this.#onMessage(message);

  /** Starts this isolate's part; nothing is written until the first admission. */
  constructor(ledger: ShareLedger, options: ConnectionBudgetOptions) {
    this.#ledger = ledger;
    this.#scope = options.scope ?? processScope();
    this.#limits = { total: options.maxConnections, perIp: options.maxConnectionsPerIp };
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#reclaimWaitMs = options.reclaimWaitMs ?? 500;
    listeners.add(this.#listener);
    this.#timer = setInterval(() => this.#enqueue(() => this.#renew()), this.#leaseMs / 4);
    Deno.unrefTimer(this.#timer);
  }

  /**
   * Admits a connection from `ip` out of this isolate's share, without I/O; false when the share
   * is used up (then call {@link admit}).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ConnectionBudget } from "./connection_budget.ts";
   * import { RecordShareLedger } from "./share_ledger.ts";
   * import { KvTransport } from "../kv/kv_transport.ts";
   * const kv = await Deno.openKv(":memory:");
   * const budget = new ConnectionBudget(new RecordShareLedger(new KvTransport(kv).records), { maxConnections: 10, maxConnectionsPerIp: 10 });
   * assert.equal(budget.tryAdmit("10.0.0.1"), false); // no share yet
   * assert.equal(await budget.admit("10.0.0.1"), undefined); // borrowed, with some to spare
   * assert.equal(budget.tryAdmit("10.0.0.1"), true);
   * budget.close();
   * kv.close();
   * ```
   */
  tryAdmit(ip: string): boolean {
    // Others may take this isolate's share once its lease runs out: stop well before.
    if (Date.now() >= this.#leaseUntil - this.#leaseMs / 3) return false;
    const total = this.#shares.get(TOTAL);
    const own = this.#shares.get(this.#budgetOf(ip));
    if (!total || !own || total.used >= total.held || own.used >= own.held) return false;
    total.used++;
    if (own !== total) own.used++;
    return true;
  }

  /**
   * Admits a connection from `ip`, borrowing from the pool when needed; resolves to `undefined`
   * when admitted, else to the limit that refused it. Call {@link release} when it closes.
   */
  admit(ip: string): Promise<BudgetRefusal | undefined> {
    if (this.tryAdmit(ip)) return Promise.resolve(undefined);
    if (this.#retired) return Promise.resolve("budget_unavailable");
    return new Promise((resolve) => {
      this.#pending.push({ ip, resolve, reclaimed: false });
      this.#scheduleBorrow();
    });
  }

  /** Gives back the slot of a closed connection from `ip` (its share stays here for now). */
  release(ip: string): void {
    const total = this.#shares.get(TOTAL);
    const own = this.#shares.get(this.#budgetOf(ip));
    if (total && total.used > 0) total.used--;
    if (own && own !== total && own.used > 0) own.used--;
  }

  /** Open connections this isolate admitted. */
  get open(): number {
    return this.#shares.get(TOTAL)?.used ?? 0;
  }

  /**
   * Returns every slot and ends the lease, at shutdown (new connections are refused by then).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ConnectionBudget } from "./connection_budget.ts";
   * import { RecordShareLedger } from "./share_ledger.ts";
   * import { KvTransport } from "../kv/kv_transport.ts";
   * const kv = await Deno.openKv(":memory:");
   * const budget = new ConnectionBudget(new RecordShareLedger(new KvTransport(kv).records), { maxConnections: 1, maxConnectionsPerIp: 1 });
   * assert.equal(await budget.admit("10.0.0.1"), undefined);
   * await budget.retire();
   * const left = await Array.fromAsync(kv.list({ prefix: ["rec", "connection_budget"] }));
   * assert.equal(left.length, 0);
   * budget.close();
   * kv.close();
   * ```
   */
  retire(): Promise<void> {
    this.#retired = true;
    clearInterval(this.#timer);
    const done = new Promise<void>((resolve) => {
      this.#enqueue(async () => {
        const budgets = [...this.#shares.keys()];
        for (
          let start = 0;
          start === 0 || start < budgets.length;
          start += this.#ledger.maxBudgetsPerUpdate
        ) {
          for (const budget of budgets.slice(start, start + this.#ledger.maxBudgetsPerUpdate)) {
            this.#share(budget).held = 0; // nothing is admitted from here on
          }
          await this.#commit(
            budgets.slice(start, start + this.#ledger.maxBudgetsPerUpdate),
            () => 0,
            true,
          );
        }
      });
      this.#enqueue(() => Promise.resolve(resolve()));
    });
    return done;
  }

  /** Stops renewing and listening; the share returns to the pool when the lease runs out. */
  close(): void {
    clearInterval(this.#timer);
    listeners.delete(this.#listener);
    for (const round of this.#rounds.values()) round.finish();
  }

  /** A client address's budget; none of its own when the per-address limit cannot bind. */
  #budgetOf(ip: string): string {
    return this.#limits.perIp < this.#limits.total ? ip : TOTAL;
  }

  #share(budget: string): Share {
    let share = this.#shares.get(budget);
    if (!share) this.#shares.set(budget, share = { held: 0, used: 0 });
    return share;
  }

  #limit(budget: string): number {
    return budget === TOTAL ? this.#limits.total : this.#limits.perIp;
  }

  /** Spare slots worth borrowing ahead, so that most admissions need no I/O. */
  #spareCap(budget: string): number {
    return Math.max(1, Math.ceil(this.#limit(budget) / 16));
  }

  /** Runs KV work one piece at a time, so the local shares always match what was committed. */
  #enqueue(work: () => Promise<void>): void {
    this.#chain = this.#chain.then(work).catch((error) => {
      log("error", "connection budget failed", { error: String(error) });
    });
  }

  #scheduleBorrow(): void {
    if (this.#borrowQueued) return;
    this.#borrowQueued = true;
    this.#enqueue(async () => {
      this.#borrowQueued = false;
      const waiters = this.#pending.splice(0).filter((waiter) => {
        if (!this.tryAdmit(waiter.ip)) return true;
        waiter.resolve(undefined);
      });
      while (waiters.length > 0) {
        const batch: Waiter[] = [];
        const budgets = new Set([TOTAL]);
        while (waiters.length > 0) {
          const budget = this.#budgetOf(waiters[0].ip);
          if (!budgets.has(budget) && budgets.size >= this.#ledger.maxBudgetsPerUpdate) break;
          budgets.add(budget);
          batch.push(waiters.shift()!);
        }
        await this.#borrow(batch);
      }
    });
  }

  /** Commits with retries; `undefined` when KV keeps conflicting or fails. */
  async #commit(
    budgets: string[],
    decide: (budget: string, state: BudgetState, live: number) => number,
    leaving = false,
  ): Promise<ShareOutcome | undefined> {
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      let outcome: ShareOutcome | undefined;
      try {
        outcome = await this.#ledger.update({
          scope: this.#scope,
          isolate: this.isolate,
          leaseMs: this.#leaseMs,
          budgets,
          decide,
          leaving,
        });
      } catch (error) {
        log("warn", "connection budget commit failed", { error: String(error) });
        return undefined;
      }
      if (outcome) {
        this.stats.commits++;
        const leaseLost = !outcome.wasAlive && this.#leaseUntil > 0;
        this.#leaseUntil = outcome.leaseUntil;
        if (leaseLost) this.#enqueue(() => this.#reacquire());
        for (const [budget, held] of outcome.held) {
          const share = this.#share(budget);
          share.held = held;
          if (share.used > held && !leaving) {
            log("error", "connection budget overdrawn after a lost lease", { budget, held });
          }
          if (held === 0 && share.used === 0) this.#shares.delete(budget);
        }
        return outcome;
      }
      this.stats.conflicts++;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
    }
    return undefined;
  }

  async #borrow(batch: Waiter[]): Promise<void> {
    const demand = new Map<string, number>([[TOTAL, batch.length]]);
    for (const { ip } of batch) {
      const budget = this.#budgetOf(ip);
      if (budget !== TOTAL) demand.set(budget, (demand.get(budget) ?? 0) + 1);
    }
    const outcome = await this.#commit([...demand.keys()], (budget, state, live) => {
      const used = this.#share(budget).used;
      const need = Math.max(0, used + demand.get(budget)! - state.recorded);
      const free = Math.max(0, this.#limit(budget) - state.others - state.recorded);
      const grant = Math.min(need, free);
      const spare = Date.now() < this.#scarceUntil
        ? 0
        : Math.min(this.#spareCap(budget), Math.floor((free - grant) / (2 * live)));
      return state.recorded + grant + spare;
    });
    if (!outcome) {
      for (const waiter of batch) waiter.resolve("budget_unavailable");
      return;
    }
    const reclaiming: Waiter[] = [];
    const asked = new Set<string>();
    const holders = new Set<string>();
    for (const waiter of batch) {
      if (this.tryAdmit(waiter.ip)) {
        waiter.resolve(undefined);
        continue;
      }
      const total = this.#share(TOTAL);
      const blocking = total.used >= total.held ? TOTAL : this.#budgetOf(waiter.ip);
      const state = outcome.states.get(blocking)!;
      if (!waiter.reclaimed && state.holders.length > 0) {
        reclaiming.push(waiter);
        asked.add(blocking);
        for (const holder of state.holders) holders.add(holder);
      } else {
        waiter.resolve(blocking === TOTAL ? "max_connections" : "max_connections_per_ip");
      }
    }
    if (reclaiming.length > 0) {
      // Not awaited: this isolate must keep answering other isolates' requests meanwhile.
      this.#askToReturn([...asked], holders).then(() => {
        for (const waiter of reclaiming) waiter.reclaimed = true;
        this.#pending.push(...reclaiming);
        this.#scheduleBorrow();
      });
    }
  }

  /** Asks `holders` to return their unused share of `budgets`; resolves when all answered. */
  #askToReturn(budgets: string[], holders: Set<string>): Promise<void> {
    this.stats.reclaims++;
    this.#scarceUntil = Date.now() + SCARCE_MS;
    const round = crypto.randomUUID();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.#rounds.delete(round);
        resolve();
      };
      const timer = setTimeout(finish, this.#reclaimWaitMs);
      this.#rounds.set(round, { waiting: new Set(holders), finish });
      post({ scope: this.#scope, reclaim: budgets, from: this.isolate, round });
    });
  }

  #onMessage(message: BudgetMessage): void {
    if (message.scope !== this.#scope) return;
    if ("returned" in message) {
      if (message.to !== this.isolate) return;
      const round = this.#rounds.get(message.returned);
      round?.waiting.delete(message.by);
      if (round && round.waiting.size === 0) round.finish();
      return;
    }
    if (message.from === this.isolate) return;
    this.#scarceUntil = Date.now() + SCARCE_MS;
    this.#enqueue(async () => {
      await this.#returnSpare(
        message.reclaim.filter((budget) => this.#shares.has(budget)),
        () => 0,
      );
      post({ scope: this.#scope, returned: message.round, by: this.isolate, to: message.from });
    });
  }

  /** Gives back unused slots of `budgets`, keeping `keep(budget)` spare in each. */
  async #returnSpare(budgets: string[], keep: (budget: string) => number): Promise<void> {
    const lowered = new Map<string, number>();
    for (const budget of budgets) {
      const share = this.#share(budget);
      const target = share.used + keep(budget);
      // Lowered here first: no admission may use a slot on its way back to the pool.
      if (share.held > target) lowered.set(budget, share.held = target);
    }
    if (lowered.size === 0) return;
    await this.#commit(
      [...lowered.keys()],
      (budget, state) => Math.min(state.recorded, this.#share(budget).held),
    );
  }

  /** What an isolate keeps of a budget it no longer needs: spare while in use, none when idle. */
  #keep(budget: string): number {
    return this.#share(budget).used === 0 ? 0 : this.#spareCap(budget);
  }

  /** Renews the lease while holding share, and returns what sits unused. */
  async #renew(): Promise<void> {
    if (this.#shares.size === 0) return;
    const spare = [...this.#shares].filter(([budget, share]) =>
      share.held - share.used > this.#keep(budget)
    ).map(([budget]) => budget).slice(0, this.#ledger.maxBudgetsPerUpdate);
    if (spare.length > 0) await this.#returnSpare(spare, (budget) => this.#keep(budget));
    else await this.#commit([], () => 0);
  }

  /** After a lost lease: claims again the slots of the connections still open. */
  async #reacquire(): Promise<void> {
    const budgets = [...this.#shares.keys()];
    for (let start = 0; start < budgets.length; start += this.#ledger.maxBudgetsPerUpdate) {
      await this.#commit(
        budgets.slice(start, start + this.#ledger.maxBudgetsPerUpdate),
        (budget, state) =>
          Math.max(
            state.recorded,
            Math.min(this.#share(budget).used, this.#limit(budget) - state.others),
          ),
      );
    }
  }
}
