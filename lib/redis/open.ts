/**
 * Opening the Redis engine of the transport from `TIDINGS_REDIS_URL`. The start waits a few
 * seconds for Redis to answer (a cluster often starts together), then stops with a message that
 * names the address (never the password) and the reason.
 *
 * @module
 */

import { StartRefusal } from "../util/start_refusal.ts";
import { RedisTransport } from "./redis_transport.ts";
import { parseRedisUrl, redactRedisUrl } from "./url.ts";

/** Options of {@link openRedisTransport}. */
export interface OpenRedisTransportOptions {
  /** `TIDINGS_REDIS_URL`. */
  url: string;
  /** How long publisher-given ids stay resolvable, ms. */
  idTtlMs?: number;
  /** `TIDINGS_REDIS_WAIT_REPLICAS`. */
  waitReplicas?: number;
  /** How long to wait for Redis at start, ms. Default 10000. */
  startTimeoutMs?: number;
  /** Stops the start with a reason (the default throws it). */
  refuse?: (error: StartRefusal) => never;
}

/**
 * Opens the Redis transport once Redis answers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openRedisTransport } from "./open.ts";
 * const refused = await openRedisTransport({
 *   url: "redis://:secret@127.0.0.1:1",
 *   startTimeoutMs: 100,
 * }).catch((error) => error.message);
 * assert.match(refused, /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
 * ```
 */
export async function openRedisTransport(
  options: OpenRedisTransportOptions,
): Promise<RedisTransport> {
  const refuse = options.refuse ?? ((error: StartRefusal): never => {
    throw error;
  });
  const transport = new RedisTransport({
    address: parseRedisUrl(options.url),
    idTtlMs: options.idTtlMs,
    waitReplicas: options.waitReplicas,
  });
  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  while (true) {
    try {
      await transport.ping();
      return transport;
    } catch (error) {
      if (Date.now() >= deadline) {
        transport.close();
        return refuse(
          new StartRefusal(
            `cannot reach Redis at ${redactRedisUrl(options.url)} (${(error as Error).message}): ` +
              "check TIDINGS_REDIS_URL, or unset it to use the Deno KV store",
          ),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(50, transport.client.retryInMs)));
    }
  }
}
