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
 */
export function setLogLevel(level: LogLevel): void {
  threshold = LEVELS[level];
}

/**
 * Writes one JSON line: `{"time","level","msg",...fields}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { log, setLogLevel } from "./logger.ts";
 * const lines: string[] = [];
 * const write = console.log;
 * console.log = (line: string) => lines.push(line);
 * setLogLevel("info");
 * log("debug", "not written");
 * log("info", "connection opened", { topic: "news" });
 * console.log = write;
 * const { level, msg, topic } = JSON.parse(lines[0]);
 * assert.deepEqual([lines.length, level, msg, topic], [1, "info", "connection opened", "news"]);
 * ```
 */
export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  if (LEVELS[level] < threshold) return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  if (level === "error" || level === "warn") console.error(line);
  else console.log(line);
}
