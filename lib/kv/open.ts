/**
 * Opening the Deno KV engine from a setting: a local file (its folder created), `:memory:`, a KV
 * Connect URL (`http://…`/`https://…`, authenticated by `DENO_KV_ACCESS_TOKEN`), or, with no path,
 * the platform's own KV (Deno Deploy).
 *
 * @module
 */

import { retryingKv } from "./busy_retry.ts";
import { KvTransport } from "./kv_transport.ts";

/** Whether a `TIDINGS_KV_PATH` names a remote store (KV Connect) rather than a file. */
export function isRemoteKvPath(path: string | undefined): boolean {
  return path !== undefined && /^https?:\/\//i.test(path);
}

/**
 * Opens the KV transport for `path` (see the module documentation).
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
export async function openKvTransport(
  options: { path: string | undefined; idTtlMs?: number },
): Promise<KvTransport> {
  const { path } = options;
  const local = path !== undefined && path !== ":memory:" && !isRemoteKvPath(path);
  if (local) {
    const directory = path.slice(0, Math.max(0, path.lastIndexOf("/")));
    if (directory) await Deno.mkdir(directory, { recursive: true });
  }
  const kv = retryingKv(await Deno.openKv(path));
  return new KvTransport(kv, { path: local ? path : undefined, idTtlMs: options.idTtlMs });
}
