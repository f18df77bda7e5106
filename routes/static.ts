/**
 * The dashboard: `GET /` and the files of `public/`, with security headers (a CSP that needs no
 * inline script or style).
 *
 * @module
 */

import { refuse } from "../lib/util/http_errors.ts";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  json: "application/json; charset=utf-8",
  txt: "text/plain; charset=utf-8",
};

/** Headers every dashboard file carries. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

const publicDir = new URL("../public/", import.meta.url);
const cache = new Map<string, Uint8Array<ArrayBuffer>>();

/**
 * Serves a file of `public/` (`/` is `index.html`); 404 for anything else, including `..` tricks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveStatic } from "./static.ts";
 * const response = await serveStatic("/../deno.json");
 * assert.equal(response.status, 404);
 * ```
 */
export async function serveStatic(pathname: string): Promise<Response> {
  const name = pathname === "/" ? "index.html" : pathname.slice(1);
  if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(name) || name.includes("..")) {
    return refuse(404, `not found: ${pathname.slice(0, 100)}`);
  }
  let bytes = cache.get(name);
  if (!bytes) {
    try {
      bytes = await Deno.readFile(new URL(name, publicDir));
    } catch {
      return refuse(404, `not found: ${pathname.slice(0, 100)}`);
    }
    if (cache.size < 100) cache.set(name, bytes);
  }
  const extension = name.slice(name.lastIndexOf(".") + 1);
  return new Response(bytes, {
    headers: {
      "content-type": TYPES[extension] ?? "application/octet-stream",
      "content-length": String(bytes.length),
      "cache-control": "no-cache",
      ...SECURITY_HEADERS,
    },
  });
}
