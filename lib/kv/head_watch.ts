/**
 * Noticing that the log's head moved, in Deno KV. `kv.watch` sees commits of every handle in this
 * process (other isolates included) at once, but not another process's commits to the same SQLite
 * file. For those, a file-system watch on the KV file's folder fires within about a millisecond of
 * any commit (SQLite writes its WAL on each), and the head is read then. The broker's slow poll
 * stays as the last safety net.
 *
 * @module
 */

import { HEAD_KEY } from "./keys.ts";

/** Options of {@link watchHead}. */
export interface HeadWatchOptions {
  /** The KV file, when the store is a local file: its folder is watched for other processes. */
  path?: string;
  /** Ends the watch. */
  signal: AbortSignal;
  /** Reports a watch that failed (it is not restarted). */
  onError?: (what: string, error: unknown) => void;
}

/**
 * Calls `onHead` with the head whenever it may have moved.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { watchHead } from "./head_watch.ts";
 * const kv = await Deno.openKv(":memory:");
 * const controller = new AbortController();
 * const seen = Promise.withResolvers<number>();
 * watchHead(kv, (seq) => seq > 0 && seen.resolve(seq), { signal: controller.signal });
 * await kv.set(["head"], 7);
 * assert.equal(await seen.promise, 7);
 * controller.abort();
 * kv.close();
 * ```
 */
export function watchHead(
  kv: Deno.Kv,
  onHead: (seq: number) => void,
  options: HeadWatchOptions,
): void {
  const { signal } = options;
  if (signal.aborted) return;
  const stream = kv.watch([HEAD_KEY]);
  signal.addEventListener("abort", () => void stream.cancel().catch(() => {}), { once: true });
  (async () => {
    try {
      for await (const [entry] of stream) {
        if (typeof entry.value === "number") onHead(entry.value);
      }
    } catch (error) {
      if (!signal.aborted) options.onError?.("kv.watch", error);
    }
  })();
  if (options.path) watchFileCommits(kv, options.path, onHead, options);
}

function watchFileCommits(
  kv: Deno.Kv,
  path: string,
  onHead: (seq: number) => void,
  options: HeadWatchOptions,
): void {
  const slash = path.lastIndexOf("/");
  const folder = slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
  const base = path.slice(slash + 1);
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs(folder, { recursive: false });
  } catch (error) {
    options.onError?.("watchFs", error);
    return;
  }
  options.signal.addEventListener("abort", () => watcher.close(), { once: true });
  // One head read at a time; events during a read ask for one more read after it.
  let reading = false;
  let again = false;
  const readHead = async () => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        const seq = (await kv.get<number>(HEAD_KEY)).value;
        if (typeof seq === "number" && !options.signal.aborted) onHead(seq);
      } while (again && !options.signal.aborted);
    } catch {
      // The store is closing, or busy for a moment: the next event or the poll reads again.
    } finally {
      reading = false;
    }
  };
  (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind !== "modify" && event.kind !== "create") continue;
        if (
          event.paths.some((changed) =>
            changed.slice(changed.lastIndexOf("/") + 1).startsWith(base)
          )
        ) {
          void readHead();
        }
      }
    } catch (error) {
      if (!options.signal.aborted) options.onError?.("watchFs", error);
    }
  })();
}
