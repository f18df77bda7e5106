/**
 * The stocks feed: a simulated market. Each symbol follows a geometric random walk (normal
 * log-returns drawn with Box–Muller from the injected PRNG, with rare jumps), one tick per second
 * per symbol, and raises alerts on big moves.
 *
 * @module
 */

import { sleep } from "../util/abortable.ts";
import { type FeedEvent, type FeedOptions, isoTime, roundTo, scaledMs } from "./feed.ts";

/** Options of {@link stocksFeed}. */
export interface StocksOptions extends FeedOptions {
  /** Symbols to simulate. Default `["AAPL", "GOOGL", "MSFT"]`. */
  symbols?: string[];
  /** A move beyond this percentage (one tick, or the session so far) raises an alert. Default 2. */
  alertThresholdPercent?: number;
}

/** The symbols simulated when none are configured. */
export const DEFAULT_SYMBOLS: readonly string[] = ["AAPL", "GOOGL", "MSFT"];

/**
 * Per-symbol character: start price, volatility of the per-tick (per-second) log-return — about
 * 1 % per hour, a lively but plausible market — and shares traded per tick.
 */
const PROFILES: Record<string, { price: number; sigma: number; volume: number }> = {
  AAPL: { price: 190, sigma: 0.00018, volume: 600 },
  GOOGL: { price: 140, sigma: 0.0002, volume: 300 },
  MSFT: { price: 410, sigma: 0.00015, volume: 250 },
};
const OTHER = { price: 100, sigma: 0.00025, volume: 100 };
/** Mean per-tick log-return: a faint upward drift (about 6 % a year). */
const DRIFT = 2e-9;
/** Chance per tick and symbol of a news jump of 2.5–5 % either way: about once in two hours. */
const JUMP_PROBABILITY = 1 / 7200;

const SYMBOL = /^[A-Z0-9.-]{1,10}$/;

/**
 * Parses a comma-separated list of ticker symbols (case-insensitive, blanks ignored, duplicates
 * dropped) into uppercase symbols of 1–10 characters `A-Z 0-9 . -`. Throws a `RangeError` naming
 * the bad symbol, or when the list is empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSymbols } from "./stocks.ts";
 * assert.deepEqual(parseSymbols(" aapl, brk.b ,MSFT"), ["AAPL", "BRK.B", "MSFT"]);
 * ```
 */
export function parseSymbols(text: string): string[] {
  const symbols: string[] = [];
  for (const part of text.split(",")) {
    const symbol = part.trim().toUpperCase();
    if (symbol === "") continue;
    if (!SYMBOL.test(symbol)) {
      throw new RangeError(
        `bad stock symbol ${JSON.stringify(part.trim())}: use 1-10 characters A-Z, 0-9, "." or "-"`,
      );
    }
    if (!symbols.includes(symbol)) symbols.push(symbol);
  }
  if (symbols.length === 0) throw new RangeError("no stock symbols given");
  return symbols;
}

/**
 * Draws a standard normal number from two uniform draws (Box–Muller).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalRandom } from "./stocks.ts";
 * assert.equal(normalRandom(() => 0.5).toFixed(6), "-1.177410"); // √(2 ln 2) · cos(π)
 * ```
 */
export function normalRandom(random: () => number): number {
  const u1 = 1 - random(); // in (0, 1]: never log(0)
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

interface SymbolState {
  symbol: string;
  sigma: number;
  baseVolume: number;
  /** Unrounded price; what is published is this rounded to cents. */
  exact: number;
  price: number;
  previousClose?: number;
  open: number;
  high: number;
  low: number;
  volume: number;
  /** Whether a session move beyond the threshold may raise an alert (re-armed within half of it). */
  sessionArmed: boolean;
}

const cents = (value: number) => Math.max(0.01, roundTo(value, 2));
const dayOf = (epochMs: number) => Math.floor(epochMs / 86_400_000);

function startSymbol(symbol: string, random: () => number): SymbolState {
  const profile = PROFILES[symbol] ?? OTHER;
  const exact = profile.price * (1 + (random() - 0.5) * 0.04);
  const price = cents(exact);
  return {
    symbol,
    sigma: profile.sigma,
    baseVolume: profile.volume,
    exact,
    price,
    open: price,
    high: price,
    low: price,
    volume: 0,
    sessionArmed: true,
  };
}

/** A new trading session (a new UTC day): yesterday's last price becomes the previous close. */
function newSession(state: SymbolState): void {
  state.previousClose = state.price;
  state.open = state.high = state.low = state.price;
  state.volume = 0;
  state.sessionArmed = true;
}

/** Moves one symbol by one tick; returns the tick's move in percent. */
function step(state: SymbolState, random: () => number): number {
  let logReturn = DRIFT + state.sigma * normalRandom(random);
  if (random() < JUMP_PROBABILITY) {
    const direction = random() < 0.5 ? -1 : 1;
    logReturn += direction * (0.025 + random() * 0.025);
  }
  const before = state.price;
  // A geometric walk never reaches zero; the floor only guards against float underflow.
  state.exact = Math.max(state.exact * Math.exp(logReturn), 0.005);
  state.price = cents(state.exact);
  state.high = Math.max(state.high, state.price);
  state.low = Math.min(state.low, state.price);
  // Busier on bigger moves, like real markets.
  const activity = 1 + Math.abs(logReturn) / state.sigma / 2;
  state.volume += Math.round(state.baseVolume * (0.3 + 1.4 * random()) * activity);
  return ((state.price - before) / before) * 100;
}

function alertFor(
  state: SymbolState,
  tickPercent: number,
  sessionPercent: number,
  threshold: number,
  time: string,
): FeedEvent | undefined {
  const { symbol, price } = state;
  const crossed = state.sessionArmed && Math.abs(sessionPercent) >= threshold;
  if (crossed) state.sessionArmed = false;
  else if (Math.abs(sessionPercent) < threshold / 2) state.sessionArmed = true;
  let changePercent: number;
  let message: string;
  if (Math.abs(tickPercent) > threshold) {
    changePercent = roundTo(tickPercent, 2);
    const verb = tickPercent > 0 ? "jumped" : "dropped";
    message = `${symbol} ${verb} ${Math.abs(changePercent).toFixed(2)}% in one tick to $${
      price.toFixed(2)
    }`;
  } else if (crossed) {
    changePercent = roundTo(sessionPercent, 2);
    const side = sessionPercent > 0 ? "up" : "down";
    message = `${symbol} is ${side} ${Math.abs(changePercent).toFixed(2)}% on the session at $${
      price.toFixed(2)
    }`;
  } else {
    return undefined;
  }
  const direction = changePercent > 0 ? "up" : "down";
  return { type: "alert", data: { symbol, price, changePercent, direction, message, time } };
}

/**
 * Yields, every second (divided by the speed), one `"price_update"` per symbol —
 * `{ symbol, price, previousClose?, open, high, low, change, changePercent, volume, time }`, with
 * change and changePercent measured from the session open (a session is a UTC day; previousClose
 * is present from the second session on) — each followed by an `"alert"`
 * `{ symbol, price, changePercent, direction, message, time }` when the tick moved the price more
 * than the threshold (changePercent is then the tick's move) or the session move crossed it
 * (changePercent is then the session's move). Returns when `signal` aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stocksFeed } from "./stocks.ts";
 * const controller = new AbortController();
 * const feed = stocksFeed({ signal: controller.signal, speed: 100, symbols: ["AAPL"] });
 * const { value } = await feed.next();
 * assert.deepEqual([value?.type, value?.data.symbol], ["price_update", "AAPL"]);
 * controller.abort();
 * await feed.return(undefined);
 * ```
 */
export async function* stocksFeed(options: StocksOptions): AsyncGenerator<FeedEvent> {
  const { signal } = options;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const threshold = options.alertThresholdPercent ?? 2;
  if (!(threshold > 0)) throw new RangeError(`alert threshold must be positive, got ${threshold}`);
  const period = scaledMs(1000, options.speed);
  const states = (options.symbols ?? DEFAULT_SYMBOLS).map((symbol) => startSymbol(symbol, random));
  let day = dayOf(now());
  let due = performance.now() + period;
  while (!signal.aborted) {
    // Scheduled against a monotonic clock so ticks do not drift; after a stall, no burst.
    const wait = due - performance.now();
    if (!(await sleep(Math.max(0, wait), signal))) return;
    due = wait < -period ? performance.now() + period : due + period;
    const epochMs = now();
    if (dayOf(epochMs) !== day) {
      day = dayOf(epochMs);
      states.forEach(newSession);
    }
    const time = isoTime(epochMs);
    for (const state of states) {
      const tickPercent = step(state, random);
      const change = roundTo(state.price - state.open, 2);
      const sessionPercent = ((state.price - state.open) / state.open) * 100;
      const { symbol, price, previousClose, open, high, low, volume } = state;
      yield {
        type: "price_update",
        data: {
          symbol,
          price,
          ...(previousClose === undefined ? {} : { previousClose }),
          open,
          high,
          low,
          change,
          changePercent: roundTo(sessionPercent, 2),
          volume,
          time,
        },
      };
      if (signal.aborted) return;
      const alert = alertFor(state, tickPercent, sessionPercent, threshold, time);
      if (alert) yield alert;
      if (signal.aborted) return;
    }
  }
}
