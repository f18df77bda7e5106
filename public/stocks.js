// The stock ticker table (one row per symbol, flashing on change, with a sparkline) and the
// alerts list.

import {
  byId,
  create,
  finite,
  flash,
  formatClock,
  formatCompact,
  formatPrice,
  formatSigned,
  setText,
  text,
} from "./dom.js";
import { createSparkline, drawSparkline } from "./sparkline.js";

const HISTORY = 60;
const MAX_ALERTS = 6;
const SYMBOL = /^[A-Z0-9.-]{1,10}$/;

const rows = new Map();

function rowFor(symbol) {
  let row = rows.get(symbol);
  if (row) return row;
  const body = byId("ticker-rows");
  body.querySelector(".placeholder-row")?.remove();
  const tr = create("tr");
  tr.dataset.symbol = symbol;
  const cell = (className) => {
    const td = create("td", className);
    tr.append(td);
    return td;
  };
  const symbolCell = cell("symbol");
  symbolCell.append(create("span", "symbol-badge", symbol));
  row = {
    tr,
    price: cell("num price"),
    change: cell("num change"),
    trend: cell("trend"),
    open: cell("num open hide-narrow"),
    high: cell("num high hide-narrow"),
    low: cell("num low hide-narrow"),
    volume: cell("num volume hide-narrow"),
    spark: createSparkline(`${symbol} price, last ${HISTORY} updates`),
    history: [],
    last: null,
  };
  row.trend.append(row.spark);
  const after = [...rows.keys()].filter((other) => other > symbol).sort()[0];
  body.insertBefore(tr, after ? rows.get(after).tr : null);
  rows.set(symbol, row);
  return row;
}

/** Shows one `price_update`. */
export function showPrice(data) {
  const symbol = text(data.symbol, "", 10);
  const price = finite(data.price);
  if (!SYMBOL.test(symbol) || price === null) return;
  const row = rowFor(symbol);
  const open = finite(data.open);
  const change = finite(data.change) ?? (open === null ? null : price - open);
  const percent = finite(data.changePercent) ?? (open ? (100 * (price - open)) / open : null);
  setText(row.price, formatPrice(price));
  setText(row.change, `${formatSigned(change)} (${formatSigned(percent, "%")})`);
  setText(row.open, formatPrice(open));
  setText(row.high, formatPrice(finite(data.high)));
  setText(row.low, formatPrice(finite(data.low)));
  setText(row.volume, formatCompact(finite(data.volume)));
  const direction = change === null || change === 0 ? "flat" : change > 0 ? "up" : "down";
  row.tr.dataset.direction = direction;
  if (row.last !== null && price !== row.last) {
    flash(row.price, price > row.last ? "flash-up" : "flash-down");
    row.tr.dataset.tick = price > row.last ? "up" : "down";
  }
  row.last = price;
  row.history.push(price);
  if (row.history.length > HISTORY) row.history.shift();
  drawSparkline(row.spark, row.history, open, HISTORY);
  setText(byId("stocks-updated"), `updated ${formatClock(data.time, formatClock(Date.now()))}`);
}

/**
 * Forgets the prices drawn so far (the rows stay): the server lost the events missed while
 * disconnected and replays its whole history, which redraws the sparklines.
 */
export function forgetPriceHistory() {
  for (const row of rows.values()) {
    row.history.length = 0;
    row.last = null;
  }
}

/** Shows one `alert` at the top of the alerts list. */
export function showAlert(data) {
  const symbol = text(data.symbol, "?", 10);
  const direction = data.direction === "down" ? "down" : "up";
  const list = byId("alerts");
  list.querySelector(".empty")?.remove();
  const item = create("li", `alert alert-${direction}`);
  item.dataset.symbol = symbol;
  item.dataset.direction = direction;
  const head = create("div", "alert-head");
  head.append(
    create("span", "alert-arrow", direction === "up" ? "\u25B2" : "\u25BC"),
    create("span", "symbol-badge", symbol),
    create("span", "alert-move", formatSigned(finite(data.changePercent), "%")),
    create("time", "alert-time", formatClock(data.time, "")),
  );
  item.append(head, create("p", "alert-message", text(data.message, "", 160)));
  list.prepend(item);
  while (list.children.length > MAX_ALERTS) list.lastElementChild.remove();
}
