/**
 * Opening the Deno KV engine of the transport from `TIDINGS_KV_PATH` (see `store.ts` for what a
 * path may name and how a store that cannot work is refused).
 *
 * @module
 */

import { retryingKv } from "./busy_retry.ts";
import { KvTransport } from "./kv_transport.ts";
import { kvLocation, openKvStore } from "./store.ts";
import type { StartRefusal } from "../util/start_refusal.ts";

/** Options of {@link openKvTransport}. */
export interface OpenKvTransportOptions {
  /** `TIDINGS_KV_PATH`: a file, `:memory:`, a KV Connect URL, or undefined for the platform's. */
  path: string | undefined;
  /** How long publisher-given ids stay resolvable, ms. */
  idTtlMs?: number;
  /** Stops the start with a reason (the default throws it). */
  refuse?: (error: StartRefusal) => never;
}

/**
 * Opens the KV transport.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openKvTransport } from "./open.ts";
 * const transport = await openKvTransport({ path: ":memory:" });
 * assert.equal(await transport.headSeq(), 0);
 * transport.close();
 * ```
 */
export async function openKvTransport(options: OpenKvTransportOptions): Promise<KvTransport> {
  const refuse = options.refuse ?? ((error: StartRefusal): never => {
    throw error;
  });
  const kv = retryingKv(await openKvStore(options.path, refuse));
  const location = kvLocation(options.path);
  return new KvTransport(kv, {
    // A local file: other processes on it are noticed through its folder.
    path: location.kind === "file" ? location.path : undefined,
    idTtlMs: options.idTtlMs,
  });
}
