/**
 * The browser client library: `GET /client.js` and the parser it imports, `GET /lib/sse_parser.js`
 * (`client/tidings_client.js` imports `../lib/sse_parser.js`, which a browser resolves from
 * `/client.js` to `/lib/sse_parser.js`). Both are plain JavaScript, served as they are.
 *
 * @module
 */

/** URL path → the file it serves, relative to this module. */
const FILES: Readonly<Record<string, URL>> = {
  "/client.js": new URL("../client/tidings_client.js", import.meta.url),
  "/lib/sse_parser.js": new URL("../lib/sse_parser.js", import.meta.url),
};

const cache = new Map<string, Uint8Array<ArrayBuffer>>();

/**
 * Serves the client library files; `undefined` for any other path (so the caller routes on).
 *
 * @example
 * ```ts
 * import { serveClientLibrary } from "./client_library.ts";
 * const response = await serveClientLibrary("/client.js");
 * console.assert(response?.headers.get("content-type") === "text/javascript; charset=utf-8");
 * console.assert((await serveClientLibrary("/other.js")) === undefined);
 * await response?.body?.cancel();
 * ```
 */
export async function serveClientLibrary(pathname: string): Promise<Response | undefined> {
  const file = Object.hasOwn(FILES, pathname) ? FILES[pathname] : undefined;
  if (!file) return undefined;
  let bytes = cache.get(pathname);
  if (!bytes) {
    bytes = await Deno.readFile(file);
    cache.set(pathname, bytes);
  }
  return new Response(bytes, {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
    },
  });
}
