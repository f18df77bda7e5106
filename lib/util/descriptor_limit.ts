/**
 * The process's file-descriptor limit (RLIMIT_NOFILE, soft) and the connection limit it allows:
 * every connection holds one descriptor, and the runtime, the KV store, the logs and sockets
 * being accepted or refused need a reserve beside them. Deno lets only `--allow-all` read
 * `/proc/self/limits`, so the limit comes from `TIDINGS_FILE_LIMIT` (which `deno task start`
 * sets from `ulimit -n`), else from `/proc/self/limits` when readable; else it is unknown and a
 * fixed default applies. With `deno serve --parallel` every isolate shares the one process, so
 * the one limit.
 *
 * @module
 */

import { ConfigError } from "./start_refusal.ts";

/** The connection limit when the descriptor limit cannot be read. */
export const FALLBACK_MAX_CONNECTIONS = 10_000;

/**
 * The soft "Max open files" limit from a `/proc/<pid>/limits` text, or null when absent or
 * unlimited.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOpenFilesLimit } from "./descriptor_limit.ts";
 * const text = "Limit  Soft Limit  Hard Limit  Units\nMax open files  1024  4096  files\n";
 * assert.equal(parseOpenFilesLimit(text), 1024);
 * assert.equal(parseOpenFilesLimit("Max open files  unlimited  unlimited  files"), null);
 * ```
 */
export function parseOpenFilesLimit(text: string): number | null {
  const match = /^Max open files\s+(\d+)\s/m.exec(text);
  return match ? Number(match[1]) : null;
}

/** Where the launcher passes `ulimit -n` to the server. */
export const FILE_LIMIT_VARIABLE = "TIDINGS_FILE_LIMIT";

/**
 * This process's soft descriptor limit: `TIDINGS_FILE_LIMIT` when set (anything but a positive
 * integer is refused), else `/proc/self/limits` when Deno may read it; null when neither.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openFilesLimit } from "./descriptor_limit.ts";
 * assert.equal(openFilesLimit(() => "4096"), 4096);
 * const limit = openFilesLimit(() => undefined);
 * assert.ok(limit === null || limit > 0);
 * ```
 */
export function openFilesLimit(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): number | null {
  const given = env(FILE_LIMIT_VARIABLE)?.trim();
  if (given) {
    if (/^\d{1,9}$/.test(given) && Number(given) > 0) return Number(given);
    throw new ConfigError(
      FILE_LIMIT_VARIABLE,
      given,
      "a positive integer (the output of ulimit -n)",
    );
  }
  try {
    return parseOpenFilesLimit(Deno.readTextFileSync("/proc/self/limits"));
  } catch {
    return null; // not Linux, or not --allow-all
  }
}

/**
 * The descriptors kept out of the connection budget: the runtime's own (about 30, a few more per
 * isolate), the KV store's files, logs, and sockets just accepted or being refused. 128, or 5% of
 * the limit when that is more.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reservedDescriptors } from "./descriptor_limit.ts";
 * assert.equal(reservedDescriptors(20_000), 1000);
 * assert.equal(reservedDescriptors(256), 128);
 * ```
 */
export function reservedDescriptors(limit: number): number {
  return Math.max(128, Math.ceil(limit * 0.05));
}

/**
 * The default connection limit for a descriptor limit: the limit minus the reserve (at least 1,
 * and at most half the limit when the limit is tiny); {@link FALLBACK_MAX_CONNECTIONS} when the
 * limit is unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultMaxConnections } from "./descriptor_limit.ts";
 * assert.equal(defaultMaxConnections(20_000), 19_000);
 * assert.equal(defaultMaxConnections(256), 128);
 * assert.equal(defaultMaxConnections(100), 50);
 * assert.equal(defaultMaxConnections(null), 10_000);
 * ```
 */
export function defaultMaxConnections(limit: number | null): number {
  if (limit === null) return FALLBACK_MAX_CONNECTIONS;
  const budget = limit - reservedDescriptors(limit);
  return Math.max(1, budget >= limit / 2 ? budget : Math.floor(limit / 2));
}

/**
 * How many connections the direct listener accepts beyond the subscription limit, so that health
 * checks and publishers still get in while every subscription slot is taken: an eighth of the
 * reserve, from 8 to 64. Sockets past that are refused at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listenerHeadroom } from "./descriptor_limit.ts";
 * assert.equal(listenerHeadroom(20_000), 64);
 * assert.equal(listenerHeadroom(256), 16);
 * ```
 */
export function listenerHeadroom(limit: number | null): number {
  if (limit === null) return 64;
  return Math.min(64, Math.max(8, Math.floor(reservedDescriptors(limit) / 8)));
}
