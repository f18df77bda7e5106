/**
 * Mercure authorization (protocol draft-07): where the token comes from, what its `mercure`
 * claim allows, and the publish / private-delivery rules. Topic selector matching is injected.
 *
 * @module
 */

import { type JwtAlgorithm, JwtError, type JwtPayload, verifyJwt } from "./jwt.ts";

/** The cookie browsers present the token in (the name the spec recommends). */
export const AUTHORIZATION_COOKIE = "mercureAuthorization";

/** Tells whether a topic selector (`*`, exact string or URI template) matches a topic. */
export type SelectorMatcher = (selector: string, topic: string) => boolean;

/** What a verified token grants, from its `mercure` claim, plus the registered `exp` and `sub`. */
export interface MercureClaims {
  /** Selectors the holder may publish to (`mercure.publish`). */
  publish?: string[];
  /** Selectors whose private updates the holder may receive (`mercure.subscribe`). */
  subscribe?: string[];
  /** Free-form data attached to the subscription (`mercure.payload`). */
  payload?: unknown;
  /** Expiry in seconds since the epoch: a subscription must end then. */
  exp?: number;
  /** The token's subject, when it has one. */
  sub?: string;
}

/** The keys that check publisher and subscriber tokens; a missing role refuses every token. */
export interface AuthKeys {
  publisher?: { key: CryptoKey; algorithm: JwtAlgorithm };
  subscriber?: { key: CryptoKey; algorithm: JwtAlgorithm };
}

/**
 * Finds the token of a request, in the spec's order: the `Authorization: Bearer` header, else the
 * `authorization` query parameter, else the `mercureAuthorization` cookie. Empty query or cookie
 * values count as absent. An `Authorization` header that is not `Bearer <token>` throws `JwtError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { extractToken } from "./mercure_auth.ts";
 * const request = new Request("http://hub/.well-known/mercure", {
 *   headers: { cookie: "theme=dark; mercureAuthorization=abc.def.ghi" },
 * });
 * assert.deepEqual(extractToken(request), { token: "abc.def.ghi", source: "cookie" });
 * assert.equal(extractToken(new Request("http://hub/")), undefined);
 * ```
 */
export function extractToken(
  request: Request,
): { token: string; source: "header" | "query" | "cookie" } | undefined {
  const header = request.headers.get("authorization");
  if (header !== null) {
    const match = /^Bearer +([^\s]+) *$/i.exec(header);
    if (!match) throw new JwtError("malformed Authorization header: expected `Bearer <token>`");
    return { token: match[1], source: "header" };
  }
  const query = new URL(request.url).searchParams.get("authorization");
  if (query) return { token: query, source: "query" };
  const cookie = readCookie(request.headers.get("cookie"), AUTHORIZATION_COOKIE);
  if (cookie) return { token: cookie, source: "cookie" };
  return undefined;
}

/**
 * Reads the `mercure` claim of a verified payload. Throws `JwtError` when `mercure` is not an
 * object or `publish`/`subscribe` are not arrays of strings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readMercureClaims } from "./mercure_auth.ts";
 * const claims = readMercureClaims({ exp: 2e9, mercure: { subscribe: ["*"] } });
 * assert.deepEqual(claims.subscribe, ["*"]);
 * assert.equal(claims.exp, 2e9);
 * ```
 */
export function readMercureClaims(payload: JwtPayload): MercureClaims {
  const claims: MercureClaims = {};
  if (payload.exp !== undefined) claims.exp = payload.exp;
  if (payload.sub !== undefined) claims.sub = payload.sub;
  const mercure = payload.mercure;
  if (mercure === undefined) return claims;
  if (typeof mercure !== "object" || mercure === null || Array.isArray(mercure)) {
    throw new JwtError("the mercure claim must be an object");
  }
  const { publish, subscribe, payload: data } = mercure as Record<string, unknown>;
  if (publish !== undefined) claims.publish = stringArray(publish, "mercure.publish");
  if (subscribe !== undefined) claims.subscribe = stringArray(subscribe, "mercure.subscribe");
  if (data !== undefined) claims.payload = data;
  return claims;
}

/**
 * Verifies the request's token with the key of `role` and returns its claims; `undefined` when the
 * request carries no token. Throws `JwtError` when a token is present but cannot be trusted
 * (including when no key is configured for `role`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { authorize } from "./mercure_auth.ts";
 * import { importSignKey, importVerifyKey, signJwt } from "./jwt.ts";
 * const token = await signJwt({ mercure: { publish: ["*"] } }, await importSignKey("HS256", "s"), "HS256");
 * const request = new Request("http://hub/", { headers: { authorization: `Bearer ${token}` } });
 * const keys = { publisher: { key: await importVerifyKey("HS256", "s"), algorithm: "HS256" as const } };
 * assert.deepEqual((await authorize(request, "publisher", keys))?.publish, ["*"]);
 * assert.equal(await authorize(new Request("http://hub/"), "publisher", keys), undefined);
 * ```
 */
export async function authorize(
  request: Request,
  role: "publisher" | "subscriber",
  keys: AuthKeys,
): Promise<MercureClaims | undefined> {
  const found = extractToken(request);
  if (!found) return undefined;
  const verifier = keys[role];
  if (!verifier) throw new JwtError(`no ${role} key is configured`);
  // A token verified before for this role (and key) is trusted again until its exp: publishers
  // send the same token with every update, and a signature check per publish is costly.
  const cacheKey = `${role} ${found.token}`;
  const cached = verified.get(cacheKey);
  if (
    cached && cached.key === verifier.key &&
    (cached.claims.exp === undefined || cached.claims.exp * 1000 > Date.now())
  ) {
    return cached.claims;
  }
  const payload = await verifyJwt(found.token, verifier.key, verifier.algorithm);
  const claims = readMercureClaims(payload);
  if (verified.size >= 1000) verified.delete(verified.keys().next().value!);
  verified.set(cacheKey, { key: verifier.key, claims });
  return claims;
}

const verified = new Map<string, { key: CryptoKey; claims: MercureClaims }>();

/**
 * The publish rule: every topic of the update must match at least one selector of
 * `mercure.publish`. No claims, no `publish` claim, an empty one or no topics → `false`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canPublishTo } from "./mercure_auth.ts";
 * const exact = (selector: string, topic: string) => selector === "*" || selector === topic;
 * assert.equal(canPublishTo({ publish: ["/a"] }, ["/a"], exact), true);
 * assert.equal(canPublishTo({ publish: ["/a"] }, ["/a", "/b"], exact), false);
 * ```
 */
export function canPublishTo(
  claims: MercureClaims | undefined,
  topics: string[],
  matches: SelectorMatcher,
): boolean {
  const selectors = claims?.publish;
  if (!selectors || selectors.length === 0 || topics.length === 0) return false;
  return topics.every((topic) => selectors.some((selector) => matches(selector, topic)));
}

/**
 * The private-delivery rule: at least one topic of the update (canonical or alternate) must match
 * at least one selector of `mercure.subscribe`. No claims → `false`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canReceivePrivate } from "./mercure_auth.ts";
 * const exact = (selector: string, topic: string) => selector === "*" || selector === topic;
 * assert.equal(canReceivePrivate({ subscribe: ["/users/1"] }, ["/books/1", "/users/1"], exact), true);
 * assert.equal(canReceivePrivate(undefined, ["/books/1"], exact), false);
 * ```
 */
export function canReceivePrivate(
  claims: MercureClaims | undefined,
  topics: string[],
  matches: SelectorMatcher,
): boolean {
  const selectors = claims?.subscribe;
  if (!selectors) return false;
  return topics.some((topic) => selectors.some((selector) => matches(selector, topic)));
}

function stringArray(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new JwtError(`${name} must be an array of strings`);
  }
  return value;
}

function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=");
    if (equals === -1 || pair.slice(0, equals).trim() !== name) continue;
    let value = pair.slice(equals + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    return value;
  }
  return undefined;
}
