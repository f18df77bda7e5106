/**
 * The start-up banner: the URL and the effective settings in a few lines, printed once per
 * process even when `deno serve --parallel` starts several isolates.
 *
 * @module
 */

import type { Config } from "./config.ts";
import { defaultMaxConnections } from "../util/descriptor_limit.ts";
import { redactRedisUrl } from "../redis/url.ts";

const PRINTED = "TIDINGS_BANNER_PRINTED";

/**
 * Prints the banner unless another isolate of this process already did.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { printBanner } from "./banner.ts";
 * import { loadConfig } from "./config.ts";
 * const env: Record<string, string> = { TIDINGS_REDIS_URL: "redis://app:secret@cache:6379/2" };
 * const lines: string[] = [];
 * const print = console.log;
 * console.log = (text: string) => lines.push(...text.split("\n"));
 * try {
 *   Deno.env.delete("TIDINGS_BANNER_PRINTED");
 *   printBanner(loadConfig((name) => env[name]));
 * } finally {
 *   console.log = print;
 * }
 * assert.match(lines[1], /^ {2}store=redis:\/\/app:\*\*\*@cache:6379\/2 demoFeeds=on /);
 * assert.doesNotMatch(lines.join("\n"), /secret|kv=/);
 * ```
 */
export function printBanner(config: Config, devToken?: string): void {
  try {
    if (Deno.env.get(PRINTED)) return;
    Deno.env.set(PRINTED, "1");
  } catch {
    // No env access: print anyway.
  }
  const host = config.hostname === "0.0.0.0" ? "localhost" : config.hostname;
  const url = `http://${host}:${config.port}`;
  const lines = [
    `tidings is up: dashboard ${url}/  hub ${url}/.well-known/mercure`,
    // With Redis, the log and the records live there (the password never printed).
    `  ${
      config.redisUrl
        ? `store=${redactRedisUrl(config.redisUrl)}`
        : `kv=${config.kvPath ?? "Deno Deploy KV"}`
    } demoFeeds=${config.demoFeeds ? "on" : "off"} ` +
    `feedSpeed=${config.feedSpeed} heartbeat=${config.heartbeatMs}ms retry=${config.retryMs}ms ` +
    `history=${config.historySize}/topic,${config.historyMaxAgeSeconds}s`,
    `  limits: connections=${config.maxConnections} perIp=${config.maxConnectionsPerIp} ` +
    `body=${config.maxBodyBytes}B publishRate=${config.publishRatePerSecond || "unlimited"}/s ` +
    `anonymous=${config.anonymousSubscribers ? "on" : "off"} cors=${
      config.corsOrigins.join(",") || "off"
    } ` +
    `compression=${config.compression ? "on" : "off"} log=${config.logLevel}`,
  ];
  const limit = config.fileDescriptorLimit;
  lines.push(
    `  connections: at most ${config.maxConnections}; descriptor limit ${limit ?? "unknown"}` +
      (limit === null
        ? ""
        : ` (default ${defaultMaxConnections(limit)} = the limit minus a reserve)`),
  );
  if (limit !== null && config.maxConnections > defaultMaxConnections(limit)) {
    lines.push(
      `  warning: TIDINGS_MAX_CONNECTIONS=${config.maxConnections} leaves too few of the ${limit} ` +
        "file descriptors for the runtime and KV; raise `ulimit -n` or lower the setting",
    );
  }
  if (devToken) {
    lines.push(
      "  no TIDINGS_JWT_KEY set: using a development key. Publisher+subscriber token " +
        "(valid 24 h, a new one at each start):",
      `  ${devToken}`,
      `  try: curl -d topic=news -d data=hello -H "Authorization: Bearer ${devToken}" ${url}/.well-known/mercure`,
    );
  }
  console.log(lines.join("\n"));
}
