import assert from "node:assert/strict";
import { RecordShareLedger } from "../lib/hub/share_ledger.ts";
import { KvTransport } from "../lib/kv/kv_transport.ts";
import { type BudgetRefusal, ConnectionBudget } from "../lib/hub/connection_budget.ts";
import { waitUntil } from "./support/hub_probe.ts";

/** `count` admissions at once, spread over `budgets` in turn; the outcomes in that order. */
function admitAtOnce(budgets: ConnectionBudget[], count: number, ip = "10.0.0.1") {
  return Promise.all(
    Array.from({ length: count }, (_, n) => budgets[n % budgets.length].admit(ip)),
  );
}

function tally(outcomes: Array<BudgetRefusal | undefined>) {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) {
    counts[outcome ?? "admitted"] = (counts[outcome ?? "admitted"] ?? 0) + 1;
  }
  return counts;
}

Deno.test("four isolates' budgets on one KV admit exactly the limit from a burst of four times it", async () => {
  const kv = await Deno.openKv(":memory:");
  const options = { maxConnections: 50, maxConnectionsPerIp: 1000, scope: "burst" };
  const budgets = Array.from(
    { length: 4 },
    () => new ConnectionBudget(new RecordShareLedger(new KvTransport(kv).records), options),
  );
  try {
    assert.deepEqual(tally(await admitAtOnce(budgets, 200)), {
      admitted: 50,
      max_connections: 150,
    });
    assert.equal(budgets.reduce((sum, budget) => sum + budget.open, 0), 50);
    // Ten close (on whichever isolates admitted them: the first to borrow may have taken most);
    // a burst on all four gets exactly those ten.
    let closed = 0;
    for (const budget of budgets) {
      while (closed < 10 && budget.open > 0) {
        budget.release("10.0.0.1");
        closed++;
      }
    }
    assert.equal(closed, 10);
    assert.deepEqual(tally(await admitAtOnce(budgets, 40)), { admitted: 10, max_connections: 30 });
  } finally {
    for (const budget of budgets) budget.close();
    kv.close();
  }
});

Deno.test("the per-address limit holds exactly across isolates while other addresses are admitted", async () => {
  const kv = await Deno.openKv(":memory:");
  const options = { maxConnections: 100, maxConnectionsPerIp: 7, scope: "per-address" };
  const budgets = Array.from(
    { length: 3 },
    () => new ConnectionBudget(new RecordShareLedger(new KvTransport(kv).records), options),
  );
  try {
    const [one, other] = await Promise.all([
      admitAtOnce(budgets, 30, "10.0.0.1"),
      admitAtOnce(budgets, 30, "10.0.0.2"),
    ]);
    assert.deepEqual(tally(one), { admitted: 7, max_connections_per_ip: 23 });
    assert.deepEqual(tally(other), { admitted: 7, max_connections_per_ip: 23 });
  } finally {
    for (const budget of budgets) budget.close();
    kv.close();
  }
});

Deno.test("a crashed isolate's share returns to the pool when its lease runs out", async () => {
  const kv = await Deno.openKv(":memory:");
  const options = {
    maxConnections: 5,
    maxConnectionsPerIp: 5,
    scope: "crash",
    leaseMs: 400,
    reclaimWaitMs: 50,
  };
  const crashed = new ConnectionBudget(new RecordShareLedger(new KvTransport(kv).records), options);
  const survivor = new ConnectionBudget(
    new RecordShareLedger(new KvTransport(kv).records),
    options,
  );
  try {
    assert.deepEqual(tally(await admitAtOnce([crashed], 5)), { admitted: 5 });
    crashed.close(); // stops renewing and answering, as a dead isolate would
    assert.equal(await survivor.admit("10.0.0.1"), "max_connections");
    await waitUntil("the dead isolate's lease to run out", async () => {
      const outcome = await survivor.admit("10.0.0.1");
      if (outcome === undefined) survivor.release("10.0.0.1");
      return outcome === undefined;
    });
    assert.deepEqual(tally(await admitAtOnce([survivor], 8)), {
      admitted: 5,
      max_connections: 3,
    });
  } finally {
    crashed.close();
    survivor.close();
    kv.close();
  }
});
