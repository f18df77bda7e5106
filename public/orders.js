// The order tracker: POST /orders, then follow the hub topic orders/<id> (on the dashboard's one
// stream) until "order_complete".

import { byId, create, durationMs, formatClock, formatDuration, setText, text } from "./dom.js";
import { Feed } from "./feed.js";

const ORDER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const STEP_STATES = new Set(["pending", "in-progress", "completed"]);

let feed = null;

function stepElement(list, index) {
  let item = list.children[index];
  if (!item) {
    item = create("li", "step");
    item.dataset.step = String(index);
    item.append(
      create("span", "step-dot"),
      create("span", "step-name"),
      create("span", "step-time"),
    );
    list.append(item);
  }
  return item;
}

function stepTime(step) {
  if (step.status === "completed") {
    const took = formatDuration(durationMs(step.startTime, step.endTime));
    return `${formatClock(step.endTime, "")}${took ? ` · ${took}` : ""}`;
  }
  if (step.status === "in-progress") return `started ${formatClock(step.startTime, "")}`;
  return "";
}

/** Shows one `order_update` / `order_complete` event. */
export function showOrder(data) {
  const steps = Array.isArray(data.steps) ? data.steps.slice(0, 20) : [];
  const list = byId("order-steps");
  steps.forEach((raw, index) => {
    const step = raw && typeof raw === "object" ? raw : {};
    const status = STEP_STATES.has(step.status) ? step.status : "pending";
    const item = stepElement(list, index);
    item.dataset.status = status;
    item.classList.toggle("current", index === data.currentStep && status !== "completed");
    setText(item.querySelector(".step-name"), text(step.name, `Step ${index + 1}`, 60));
    setText(item.querySelector(".step-time"), stepTime(step));
  });
  while (list.children.length > steps.length && steps.length > 0) list.lastElementChild.remove();
  const done = steps.filter((step) => step?.status === "completed").length;
  const status = data.status === "completed" ? "completed" : "processing";
  const badge = byId("order-status");
  setText(badge, status);
  badge.dataset.status = status;
  list.dataset.completed = String(done);
  const item = text(data.item, "", 100);
  setText(
    byId("order-id"),
    `${item ? `${item} — ` : ""}order ${
      text(data.orderId, "?", 64)
    } · ${done}/${steps.length} steps`,
  );
}

function resetSteps() {
  for (const item of byId("order-steps").children) {
    item.dataset.status = "pending";
    item.classList.remove("current");
    setText(item.querySelector(".step-time"), "");
  }
}

async function placeOrder(item) {
  const button = byId("order-button");
  const badge = byId("order-status");
  button.disabled = true;
  try {
    const response = await fetch("/orders", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ item }),
    });
    if (response.status !== 201) throw new Error(`the server answered HTTP ${response.status}`);
    const order = await response.json();
    const id = text(order?.id, "", 64);
    if (!ORDER_ID.test(id)) throw new Error("the server sent no usable order id");
    resetSteps();
    setText(badge, "processing");
    badge.dataset.status = "processing";
    setText(byId("order-id"), `order ${id} placed`);
    const handlers = { order_update: showOrder, order_complete: showOrder };
    if (feed) feed.close("closed");
    feed = new Feed("order", `orders/${id}`, handlers, {
      finalType: "order_complete",
      accepts: (data) => data.orderId === id,
    });
  } catch (error) {
    setText(badge, "failed");
    badge.dataset.status = "failed";
    setText(byId("order-id"), `Could not place the order: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

/** Wires the order form. */
export function startOrders() {
  const input = byId("order-item");
  byId("order-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const item = input.value.trim().slice(0, 100) || "Mystery box";
    void placeOrder(item);
  });
}
