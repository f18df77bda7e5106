/**
 * Where the hub's KV store lives (`TIDINGS_KV_PATH`), and opening it so that a store that cannot
 * work here stops the start with a message that says what to set:
 *
 * - a file path: its folder is created; a folder that cannot be written (no `--allow-write`, a
 *   read-only container, a platform without a disk) is refused with the alternatives;
 * - `:memory:`: one store per isolate, so it works with ONE isolate only. Isolates of a process
 *   cannot see each other's settings, so each announces its memory store on a BroadcastChannel;
 *   an isolate that hears another stops the process (at start, or as soon as the other appears);
 * - `http://…` / `https://…`: a KV Connect server (a self-hosted denokv, or a Deno Deploy KV
 *   database from outside), authenticated by `DENO_KV_ACCESS_TOKEN`; nothing local is written;
 * - unset on Deno Deploy: the KV database attached to the app (`Deno.openKv()`).
 *
 * @module
 */

import { StartRefusal } from "../util/start_refusal.ts";
import { retryWhileBusy } from "./busy_retry.ts";

/** What `TIDINGS_KV_PATH` names. */
export type KvLocation =
  | { kind: "platform" }
  | { kind: "memory" }
  | { kind: "remote"; url: string }
  | { kind: "file"; path: string; directory: string };

/**
 * Classifies a `TIDINGS_KV_PATH` value (`undefined`: the platform's database).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kvLocation } from "./store.ts";
 * assert.deepEqual(kvLocation("./data/tidings.kv"), {
 *   kind: "file",
 *   path: "./data/tidings.kv",
 *   directory: "./data",
 * });
 * assert.equal(kvLocation("https://kv.example.com").kind, "remote");
 * assert.equal(kvLocation(":memory:").kind, "memory");
 * assert.equal(kvLocation(undefined).kind, "platform");
 * assert.deepEqual(kvLocation("hub.kv"), { kind: "file", path: "hub.kv", directory: "." });
 * ```
 */
export function kvLocation(kvPath: string | undefined): KvLocation {
  if (kvPath === undefined) return { kind: "platform" };
  if (kvPath === ":memory:") return { kind: "memory" };
  if (/^https?:\/\//i.test(kvPath)) return { kind: "remote", url: kvPath };
  const slash = kvPath.lastIndexOf("/");
  const directory = slash > 0 ? kvPath.slice(0, slash) : slash === 0 ? "/" : ".";
  return { kind: "file", path: kvPath, directory };
}

const ALTERNATIVES = [
  "set TIDINGS_KV_PATH to a file in a writable folder (deno task start grants write access to",
  "that folder only), or to a KV Connect URL (https://…, with DENO_KV_ACCESS_TOKEN); on Deno",
  "Deploy, leave it unset and attach a KV database to the app",
].join(" ");

/** The memory store was opened by several isolates of one process: each would see its own. */
export const SHARED_MEMORY_STORE =
  "TIDINGS_KV_PATH=:memory: gives each isolate its own store, and this process runs several " +
  "isolates (deno serve --parallel): a subscriber on one would never see updates published on " +
  "another. Set TIDINGS_KV_PATH to a file path (e.g. ./data/tidings.kv), or run one isolate " +
  "(DENO_JOBS=1, or deno task dev)";

/**
 * Opens the store `kvPath` names. A store that cannot work gets `refuse` (which should stop the
 * process; it is also called later if another isolate of the process opens a memory store).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openKvStore } from "./store.ts";
 * let refused = "";
 * const kv = await openKvStore("/proc/no-such-folder/x.kv", (error) => {
 *   refused = error.message;
 *   throw error;
 * }).catch(() => undefined);
 * assert.equal(kv, undefined);
 * assert.match(refused, /cannot open the KV store at \/proc\/no-such-folder\/x\.kv/);
 * ```
 */
export async function openKvStore(
  kvPath: string | undefined,
  refuse: (error: StartRefusal) => never,
): Promise<Deno.Kv> {
  const location = kvLocation(kvPath);
  try {
    switch (location.kind) {
      case "platform":
        return await Deno.openKv();
      case "memory":
        refuseSharedMemoryStore(refuse);
        return await Deno.openKv(":memory:");
      case "remote":
        return await Deno.openKv(location.url);
      case "file":
        if (location.directory !== ".") await Deno.mkdir(location.directory, { recursive: true });
        // Isolates opening one new file at once may find it locked for a moment.
        return await retryWhileBusy(() => Deno.openKv(location.path), 10_000);
    }
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    switch (location.kind) {
      case "platform":
        return refuse(
          new StartRefusal(
            `cannot open the platform's KV database (${reason}): attach a KV database to the ` +
              "app in the Deno Deploy console (Databases, Assign), or set TIDINGS_KV_PATH",
          ),
        );
      case "remote":
        return refuse(
          new StartRefusal(
            `cannot open the KV Connect database at ${new URL(location.url).origin} (${reason}): ` +
              "check the URL in TIDINGS_KV_PATH and the token in DENO_KV_ACCESS_TOKEN",
          ),
        );
      default:
        return refuse(
          new StartRefusal(`cannot open the KV store at ${kvPath} (${reason}): ${ALTERNATIVES}`),
        );
    }
  }
}

const MEMORY_STORES = "tidings-memory-kv";

/**
 * Announces this isolate's memory store and listens for another isolate's, for the life of the
 * isolate: whichever hears the other calls `refuse`.
 */
function refuseSharedMemoryStore(refuse: (error: StartRefusal) => never): void {
  if (typeof BroadcastChannel !== "function") return;
  const channel = new BroadcastChannel(MEMORY_STORES);
  channel.onmessage = () => refuse(new StartRefusal(SHARED_MEMORY_STORE));
  channel.postMessage("memory store opened");
}
