import assert from "node:assert/strict";
import { KvTransport } from "../lib/kv/kv_transport.ts";
import { Hub } from "../lib/hub/hub.ts";
import { type FiniteFeedState, runFiniteFeed } from "../lib/feeds/producers.ts";
import { gameSimulation } from "../lib/feeds/games.ts";
import { ORDER_STEPS, orderWorkflow } from "../lib/feeds/orders.ts";

async function withHub(test: (hub: Hub) => Promise<void>) {
  const kv = await Deno.openKv(":memory:");
  const hub = await Hub.open(new KvTransport(kv));
  try {
    await test(hub);
  } finally {
    hub.close();
    kv.close();
  }
}

const running = (id: string): FiniteFeedState => ({ id, status: "running", createdAt: "" });

Deno.test("a game taken over after its producer died continues from the last published score", async () => {
  await withHub(async (hub) => {
    await hub.records.set(["games", "g1"], running("g1"));
    const team = (name: string, score: number) => ({
      name,
      score,
      shots: 40,
      fouls: 9,
      timeouts: 3,
    });
    const before = await hub.publish({
      topics: ["games/g1"],
      type: "game_update",
      data: JSON.stringify({
        gameId: "g1",
        homeTeam: team("Home", 50),
        awayTeam: team("Away", 48),
        period: 3,
        timeLeft: "05:00",
        status: "live",
      }),
    });
    await runFiniteFeed(hub, {
      kind: "games",
      id: "g1",
      topic: "games/g1",
      finalType: "game_final",
      makeFeed: (signal, resumeFrom) =>
        gameSimulation({ signal, speed: 100_000, gameId: "g1", resumeFrom }),
    }, hub.closing);
    const events = await hub.log.readTopic("games/g1", before.seq, before.seq + 10_000);
    const first = JSON.parse(events[0].data);
    assert.equal(first.lastPlay, "Play resumed");
    assert.equal(first.period, 3);
    assert.equal(first.timeLeft, "05:00");
    assert.deepEqual([first.homeTeam.score, first.awayTeam.score], [50, 48]);
    assert.deepEqual([first.homeTeam.timeouts, first.awayTeam.fouls], [3, 9]);
    for (const event of events) {
      const data = JSON.parse(event.data);
      assert.ok(data.homeTeam.score >= 50 && data.awayTeam.score >= 48, "scores never go back");
      assert.ok(data.period >= 3, "the period never goes back");
    }
    assert.equal(events.at(-1)!.type, "game_final");
    const state = (await hub.records.get<FiniteFeedState>(["games", "g1"]))!;
    assert.equal(state.status, "completed");
    assert.equal(state.finalEventId, events.at(-1)!.id);
  });
});

Deno.test("an order taken over mid-workflow finishes its remaining steps without starting over", async () => {
  await withHub(async (hub) => {
    await hub.records.set(["orders", "o1"], running("o1"));
    const steps = ORDER_STEPS.map((name, index) => ({
      name,
      status: index < 3 ? "completed" : index === 3 ? "in-progress" : "pending",
      startTime: index <= 3 ? "2026-11-23T10:00:00.000Z" : null,
      endTime: index < 3 ? "2026-11-23T10:00:01.000Z" : null,
    }));
    const before = await hub.publish({
      topics: ["orders/o1"],
      type: "order_update",
      data: JSON.stringify({
        orderId: "o1",
        item: null,
        status: "processing",
        steps,
        currentStep: 3,
      }),
    });
    await runFiniteFeed(hub, {
      kind: "orders",
      id: "o1",
      topic: "orders/o1",
      finalType: "order_complete",
      makeFeed: (signal, resumeFrom) =>
        orderWorkflow({ signal, speed: 10_000, orderId: "o1", resumeFrom }),
    }, hub.closing);
    const events = await hub.log.readTopic("orders/o1", before.seq, before.seq + 100);
    // Step 3 completes, then steps 4 and 5 each start and complete: five events, the last final.
    assert.deepEqual(events.map((event) => JSON.parse(event.data).currentStep), [3, 4, 4, 5, 5]);
    assert.equal(events.at(-1)!.type, "order_complete");
    const final = JSON.parse(events.at(-1)!.data);
    assert.equal(
      final.steps[0].startTime,
      "2026-11-23T10:00:00.000Z",
      "finished steps keep their times",
    );
    assert.equal(final.steps[3].startTime, "2026-11-23T10:00:00.000Z");
    assert.ok(final.steps.every((step: { status: string }) => step.status === "completed"));
  });
});

Deno.test("a finite feed whose producer died right after its final event is only marked completed", async () => {
  await withHub(async (hub) => {
    await hub.records.set(["orders", "o2"], running("o2"));
    const final = await hub.publish({ topics: ["orders/o2"], type: "order_complete", data: "{}" });
    let started = false;
    await runFiniteFeed(hub, {
      kind: "orders",
      id: "o2",
      topic: "orders/o2",
      finalType: "order_complete",
      makeFeed: async function* () {
        started = true;
        yield { type: "order_update", data: {} };
      },
    }, hub.closing);
    assert.equal(started, false);
    const state = (await hub.records.get<FiniteFeedState>(["orders", "o2"]))!;
    assert.equal(state.status, "completed");
    assert.equal(state.finalEventId, final.id);
  });
});
