// Small DOM and formatting helpers shared by the dashboard panels.
// Feed data is untrusted: everything reaches the page through textContent or attributes.

/** The element with this id; throws when the page lacks it (a broken page should say so). */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`dashboard: missing #${id}`);
  return element;
}

/** Creates an element with an optional class and text. */
export function create(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Creates an SVG element with attributes. */
export function createSvg(tag, attributes = {}) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/** Sets text only when it changed (keeps the DOM quiet). */
export function setText(element, text) {
  const value = String(text);
  if (element.textContent !== value) element.textContent = value;
}

/** Restarts a one-shot CSS animation class (e.g. a flash) on an element. */
export function flash(element, className) {
  element.classList.remove("flash-up", "flash-down", "flash");
  void element.offsetWidth;
  element.classList.add(className);
}

/** A finite number, or null for anything else (null, strings, NaN). */
export function finite(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** A string of at most `max` characters, or the fallback. */
export function text(value, fallback = "", max = 200) {
  return typeof value === "string" ? value.slice(0, max) : fallback;
}

/** Parses an event's JSON data into an object, or null. */
export function parseData(event) {
  try {
    const data = JSON.parse(event.data);
    return data !== null && typeof data === "object" && !Array.isArray(data) ? data : null;
  } catch {
    return null;
  }
}

const money = new Intl.NumberFormat("en-US", {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
const timeOfDay = new Intl.DateTimeFormat("en-GB", {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

/** 1234.5 → "1,234.50"; null → "n/a". */
export function formatPrice(value) {
  return value === null ? "n/a" : money.format(value);
}

/** 1.234 → "+1.23"; -0.5 → "−0.50" with a real minus sign. */
export function formatSigned(value, suffix = "") {
  if (value === null) return "n/a";
  const sign = value > 0 ? "+" : value < 0 ? "\u2212" : "";
  return `${sign}${money.format(Math.abs(value))}${suffix}`;
}

/** 1234567 → "1.2M". */
export function formatCompact(value) {
  return value === null ? "n/a" : compact.format(value);
}

/** A percentage with one decimal: 42.25 → "42.3%"; null → "n/a" (never 0). */
export function formatPercent(value) {
  return value === null ? "n/a" : `${value.toFixed(1)}%`;
}

/** Bytes per second in binary units: 1536 → "1.5 KiB/s". */
export function formatRate(value) {
  if (value === null) return "n/a";
  const units = ["B/s", "KiB/s", "MiB/s", "GiB/s"];
  let amount = Math.max(0, value);
  let unit = 0;
  while (amount >= 1024 && unit < units.length - 1) {
    amount /= 1024;
    unit++;
  }
  return `${amount.toFixed(amount >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** An ISO time → "HH:MM:SS" in local time; anything unparsable → the fallback. */
export function formatClock(iso, fallback = "–") {
  if (typeof iso !== "string" && typeof iso !== "number") return fallback;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? fallback : timeOfDay.format(date);
}

/** Milliseconds between two ISO times, or null. */
export function durationMs(fromIso, toIso) {
  const from = Date.parse(fromIso);
  const to = Date.parse(toIso);
  return Number.isNaN(from) || Number.isNaN(to) ? null : Math.max(0, to - from);
}

/** 1234 → "1.2 s"; 80 → "80 ms". */
export function formatDuration(ms) {
  if (ms === null) return "";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
