import assert from "node:assert/strict";
import { type FeedEvent, seededRandom } from "../lib/feeds/feed.ts";
import {
  isValidOrderId,
  newOrderId,
  ORDER_STEPS,
  type OrderStep,
  orderWorkflow,
} from "../lib/feeds/orders.ts";

Deno.test("an order goes through the six steps in order and ends with order_complete", async () => {
  const signal = new AbortController().signal;
  const orderId = newOrderId();
  const events = await Array.fromAsync(
    orderWorkflow({ signal, speed: 1000, orderId, item: "Blue mug", random: seededRandom(2) }),
  );
  assert.equal(events.length, 12); // every step: started, then completed
  assert.deepEqual(events.map((event) => event.type), [
    ...Array(11).fill("order_update"),
    "order_complete",
  ]);
  assert.deepEqual(events.map((event) => event.final), [...Array(11).fill(undefined), true]);
  events.forEach((event, index) => {
    const { data } = event;
    const steps = data.steps as OrderStep[];
    const current = Math.floor(index / 2);
    const currentDone = index % 2 === 1;
    assert.equal(data.orderId, orderId);
    assert.equal(data.item, "Blue mug");
    assert.equal(data.currentStep, current);
    assert.equal(data.status, index === 11 ? "completed" : "processing");
    assert.deepEqual(steps.map((step) => step.name), ORDER_STEPS);
    assert.deepEqual(
      steps.map((step) => step.status),
      ORDER_STEPS.map((_, position) =>
        position < current || (position === current && currentDone)
          ? "completed"
          : position === current
          ? "in-progress"
          : "pending"
      ),
    );
    for (const step of steps) {
      assert.equal(step.startTime === null, step.status === "pending");
      assert.equal(step.endTime === null, step.status !== "completed");
      if (step.startTime && step.endTime) assert.ok(step.startTime <= step.endTime);
    }
    assert.equal(new Date(data.updateTime as string).toISOString(), data.updateTime);
  });
  const finalSteps = events[11].data.steps as OrderStep[];
  for (let index = 1; index < finalSteps.length; index++) {
    assert.ok(finalSteps[index - 1].endTime! <= finalSteps[index].startTime!);
  }
});

Deno.test("an order's first event has step 0 in progress and the rest pending", async () => {
  const controller = new AbortController();
  const feed = orderWorkflow({ signal: controller.signal, orderId: "ord_abcdefghijkl" });
  const first = (await feed.next()).value as FeedEvent;
  controller.abort();
  assert.equal(first.type, "order_update");
  assert.equal(first.data.item, null);
  assert.equal(first.data.currentStep, 0);
  assert.deepEqual((first.data.steps as OrderStep[]).map((step) => step.status), [
    "in-progress",
    "pending",
    "pending",
    "pending",
    "pending",
    "pending",
  ]);
  assert.equal((await feed.next()).done, true);
});

Deno.test("each order step waits 1 to 3 seconds divided by the speed", async () => {
  // At speed 100 a step waits 10 ms (draw 0) to 30 ms (draw near 1): six steps at least 6 times that.
  for (const [draw, stepMs] of [[0, 10], [0.999, 29.98]]) {
    const signal = new AbortController().signal;
    const started = performance.now();
    await Array.fromAsync(
      orderWorkflow({ signal, speed: 100, orderId: "ord_abcdefghijkl", random: () => draw }),
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 6 * stepMs - 1, `six steps took only ${elapsed} ms`);
  }
});

Deno.test("order ids are ord_ and 12 base32 characters, and random", () => {
  const ids = new Set(Array.from({ length: 1000 }, newOrderId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, /^ord_[a-z2-7]{12}$/);
  assert.ok(isValidOrderId("ord_abcdefgh2345"));
  for (
    const bad of [
      "",
      "ord_",
      "ord_ABCDEFGH2345",
      "ord_abcdefgh23456",
      "ord_abcdefgh2341",
      "ORD_abcdefgh2345",
    ]
  ) {
    assert.equal(isValidOrderId(bad), false, bad);
  }
});
