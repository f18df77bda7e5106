/**
 * The router: a table of routes, each a path (exact, or a prefix ending in `/`) with one handler
 * per method. A path with no handler for the request's method gets 405 with `Allow`; a path no
 * route knows goes to the fallback. Every handler has one shape: `(request, context, match)`.
 *
 * @module
 */

import { refuse } from "../util/http_errors.ts";

/** What matched: the request's path, and what follows a prefix route's prefix (else ""). */
export interface RouteMatch {
  path: string;
  rest: string;
}

/** A route handler. */
export type RouteHandler<Context> = (
  request: Request,
  context: Context,
  match: RouteMatch,
) => Response | Promise<Response>;

/** One row of the table. */
export interface Route<Context> {
  /** An exact path, or a prefix when it ends in `/` (`/feeds/` matches `/feeds/clock`). */
  path: string;
  /** Handlers by method (`GET` also answers `HEAD` unless `HEAD` is given). */
  methods: Readonly<Record<string, RouteHandler<Context>>>;
  /** The reason given with a 405 (default: "method not allowed"). */
  methodHint?: string;
}

/**
 * Routes requests by path alone (the caller validates the request target first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "./router.ts";
 * const router = new Router<string>([
 *   { path: "/hello", methods: { GET: (_request, who) => new Response(`hello ${who}`) } },
 *   { path: "/items/", methods: { GET: (_request, _who, match) => new Response(match.rest) } },
 * ], () => new Response("fallback", { status: 404 }));
 * const get = (path: string, method = "GET") =>
 *   router.route(new Request(`http://hub${path}`, { method }), "ann", path);
 * assert.equal(await (await get("/hello")).text(), "hello ann");
 * assert.equal(await (await get("/items/42")).text(), "42");
 * const refused = await get("/hello", "DELETE");
 * assert.deepEqual([refused.status, refused.headers.get("allow")], [405, "GET, HEAD"]);
 * assert.equal((await get("/nowhere")).status, 404);
 * ```
 */
export class Router<Context> {
  readonly #exact = new Map<string, Route<Context>>();
  readonly #prefixes: Route<Context>[] = [];
  readonly #fallback: RouteHandler<Context>;

  constructor(routes: readonly Route<Context>[], fallback: RouteHandler<Context>) {
    for (const route of routes) {
      if (route.path.endsWith("/")) this.#prefixes.push(route);
      else this.#exact.set(route.path, route);
    }
    // The longest prefix wins.
    this.#prefixes.sort((a, b) => b.path.length - a.path.length);
    this.#fallback = fallback;
  }

  /** Answers `request`, whose path is `path`, with the route's handler for its method. */
  route(request: Request, context: Context, path: string): Response | Promise<Response> {
    let route = this.#exact.get(path);
    let rest = "";
    if (!route) {
      route = this.#prefixes.find((candidate) => path.startsWith(candidate.path));
      if (route) rest = path.slice(route.path.length);
    }
    if (!route) return this.#fallback(request, context, { path, rest: "" });
    const handler = route.methods[request.method] ??
      (request.method === "HEAD" ? route.methods.GET : undefined);
    if (!handler) {
      const allowed = Object.keys(route.methods);
      if (allowed.includes("GET") && !allowed.includes("HEAD")) allowed.push("HEAD");
      return refuse(405, route.methodHint ?? "method not allowed", { allow: allowed.join(", ") });
    }
    return handler(request, context, { path, rest });
  }
}
