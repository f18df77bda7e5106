// tidings dashboard: every demo feed's topic rides on ONE subscription (stream.js, through the
// tidings client library), each feed drawn into its panel.
// Plain ES modules, no build step; works under `Content-Security-Policy: default-src 'self'`.

import { byId, finite, setText } from "./dom.js";
import { Feed } from "./feed.js";
import { forgetPriceHistory, showAlert, showPrice } from "./stocks.js";
import { forgetNetworkSamples, showMetrics } from "./system.js";
import { startChat } from "./chat.js";
import { startOrders } from "./orders.js";
import { startGame } from "./game.js";

const clockTime = new Intl.DateTimeFormat("en-GB", {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const clockDate = new Intl.DateTimeFormat("en-GB", {
  weekday: "long",
  day: "numeric",
  month: "long",
  year: "numeric",
});

/** Shows one clock `tick`: the server's time, and how far this browser's clock is off. */
function showTick(data) {
  const epochMs = finite(data.epochMs) ?? Date.parse(data.time);
  if (!Number.isFinite(epochMs)) return;
  const date = new Date(epochMs);
  const element = byId("clock-time");
  setText(element, clockTime.format(date));
  element.dateTime = date.toISOString();
  const skew = Date.now() - epochMs;
  const skewText = Math.abs(skew) < 1000
    ? "in sync"
    : `this browser ${skew > 0 ? "+" : "−"}${(Math.abs(skew) / 1000).toFixed(1)} s`;
  setText(byId("clock-date"), `${clockDate.format(date)} · server time, ${skewText}`);
}

function start() {
  new Feed("clock", "clock", { tick: showTick });
  new Feed("stocks", "stocks", { price_update: showPrice, alert: showAlert }, {
    onReset: forgetPriceHistory,
  });
  new Feed("system", "system", { metrics: showMetrics }, { onReset: forgetNetworkSamples });
  startChat();
  startOrders();
  startGame();
  document.body.dataset.ready = "true";
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
