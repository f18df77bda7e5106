/**
 * The browser client library, served as the plain ES modules it is written in:
 *
 * - `GET /client/<name>.js`: the modules of `client/` (the entry is `client/tidings_client.js`,
 *   the SSE parser `client/sse_parser.js`). They import each other as `./<name>.js`, which a
 *   browser resolves from `/client/` just as Deno does from the `client/` folder.
 * - `GET /client.js`: the short, public address: a one-line module re-exporting
 *   `/client/tidings_client.js`. (Served as the entry itself, the entry's `./<name>.js` imports
 *   would resolve to `/<name>.js`, among the dashboard's files.)
 *
 * Only files that exist in `client/` are served, by a strict name check (lowercase letters,
 * digits and `_`, then `.js`): no other folder is reachable.
 *
 * @module
 */

const CLIENT_DIR = new URL("../client/", import.meta.url);
const ENTRY = "tidings_client.js";

/** `/client.js`: re-exports the entry from where its relative imports resolve. */
const ENTRY_ALIAS = new TextEncoder().encode(`export * from "./client/${ENTRY}";\n`);

/** `/client/<module name>` */
const CLIENT_MODULE = /^\/client\/([a-z][a-z0-9_]{0,63}\.js)$/;

const cache = new Map<string, Uint8Array<ArrayBuffer>>();

/** The file a path names, or `undefined`. */
function fileOf(pathname: string): URL | undefined {
  const name = CLIENT_MODULE.exec(pathname)?.[1];
  return name === undefined ? undefined : new URL(name, CLIENT_DIR);
}

/** The file's bytes (cached), or `undefined` when it does not exist. */
async function bytesOf(pathname: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (pathname === "/client.js") return ENTRY_ALIAS;
  const cached = cache.get(pathname);
  if (cached) return cached;
  const file = fileOf(pathname);
  if (!file) return undefined;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await Deno.readFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.IsADirectory) {
      return undefined;
    }
    throw error;
  }
  cache.set(pathname, bytes);
  return bytes;
}

/**
 * Serves the client library's modules; `undefined` for any other path (so the caller routes on).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveClientLibrary } from "./client_library.ts";
 * const response = await serveClientLibrary("/client/tidings_client.js");
 * assert.equal(response?.headers.get("content-type"), "text/javascript; charset=utf-8");
 * assert.equal(await serveClientLibrary("/client/../deno.json"), undefined);
 * await response?.body?.cancel();
 * ```
 */
export async function serveClientLibrary(pathname: string): Promise<Response | undefined> {
  const bytes = await bytesOf(pathname);
  if (!bytes) return undefined;
  return new Response(bytes, {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "content-length": String(bytes.length),
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
    },
  });
}
