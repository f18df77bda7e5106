/**
 * Structured JSON logs, one line each, with levels.
 *
 * @module
 */

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;

/** A log level name. */
export type LogLevel = keyof typeof LEVELS;

let threshold: number = LEVELS.info;

/**
 * Sets the lowest level written.
 *
 * @example
 * ```ts
 * import { setLogLevel } from "./logger.ts";
 * setLogLevel("warn");
 * ```
 */
export function setLogLevel(level: LogLevel): void {
  threshold = LEVELS[level];
}

/**
 * Writes one JSON line: `{"time","level","msg",...fields}`.
 *
 * @example
 * ```ts
 * import { log } from "./logger.ts";
 * log("debug", "connection opened", { topic: "news" });
 * ```
 */
export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  if (LEVELS[level] < threshold) return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  if (level === "error" || level === "warn") console.error(line);
  else console.log(line);
}
