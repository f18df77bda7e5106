// @ts-check
/**
 * Subscriber tokens: a fixed string, or a function the client calls again shortly before the
 * token expires (and after a 401).
 *
 * @module
 */

import { abortable } from "./abortable.js";

/**
 * When a token should be replaced: shortly before its `exp` (10% of its remaining life, at most
 * 30 s early). The payload is decoded, not verified. `undefined` for a token without `exp`.
 *
 * @param {string} token a JWT
 * @param {number} [now] the time it was obtained (ms since the epoch)
 * @returns {number | undefined} ms since the epoch
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenRefreshTime } from "./token.js";
 * const payload = btoa(JSON.stringify({ exp: 1_000 })).replace(/=+$/, "");
 * assert.equal(tokenRefreshTime(`e30.${payload}.sig`, 900_000), 990_000);
 * ```
 */
export function tokenRefreshTime(token, now = Date.now()) {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
    const claims = JSON.parse(
      new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))),
    );
    if (typeof claims?.exp !== "number") return undefined;
    const expiresAt = claims.exp * 1000;
    return expiresAt - Math.min(30_000, Math.max(0, (expiresAt - now) * 0.1));
  } catch {
    return undefined;
  }
}

/**
 * The token of a subscription: caches what a token function returned until its refresh time, and
 * shares one call between concurrent askers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TokenSource } from "./token.js";
 * const tokens = new TokenSource(() => Promise.resolve("a.b.c"));
 * assert.equal(await tokens.current(new AbortController().signal), "a.b.c");
 * ```
 */
export class TokenSource {
  /** @type {string | (() => Promise<string>) | undefined} */
  #source;
  /** @type {{ value: string, refreshAt: number | undefined } | undefined} */
  #cached;
  /** @type {Promise<string> | undefined} */
  #request;

  /**
   * @param {string | (() => Promise<string>) | undefined} source a token, or a function that
   * fetches one
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { TokenSource } from "./token.js";
   * const anonymous = new TokenSource(undefined);
   * assert.equal(await anonymous.current(new AbortController().signal), undefined);
   * ```
   */
  constructor(source) {
    this.#source = source;
  }

  /**
   * When the cached token from a token function should be replaced (ms since the epoch);
   * `undefined` for a fixed token, before the first call, or for a token without `exp`.
   *
   * @returns {number | undefined}
   */
  get refreshAt() {
    return this.#cached?.refreshAt;
  }

  /**
   * The token to send: the fixed one, the cached one while it is fresh, or a new one from the
   * function (`force`: even if the cached one is fresh). `undefined` once `signal` aborts.
   *
   * @param {AbortSignal} signal
   * @param {boolean} [force]
   * @returns {Promise<string | undefined>}
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { TokenSource } from "./token.js";
   * let calls = 0;
   * const tokens = new TokenSource(() => Promise.resolve(`token-${++calls}`));
   * const signal = new AbortController().signal;
   * await tokens.current(signal);
   * assert.equal(await tokens.current(signal, true), "token-2");
   * ```
   */
  async current(signal, force = false) {
    const source = this.#source;
    if (typeof source !== "function") return source;
    const cached = this.#cached;
    if (!force && cached && (cached.refreshAt === undefined || Date.now() < cached.refreshAt)) {
      return cached.value;
    }
    this.#request ??= (async () => {
      try {
        const value = await source();
        if (typeof value !== "string" || value === "") {
          throw new TypeError("the token function must resolve to a non-empty string");
        }
        this.#cached = { value, refreshAt: tokenRefreshTime(value) };
        return value;
      } finally {
        this.#request = undefined;
      }
    })();
    return await abortable(this.#request, signal);
  }

  /**
   * Drops the cached token: the next {@linkcode TokenSource.current} calls the function again.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { TokenSource } from "./token.js";
   * let calls = 0;
   * const tokens = new TokenSource(() => Promise.resolve(`token-${++calls}`));
   * const signal = new AbortController().signal;
   * assert.equal(await tokens.current(signal), "token-1");
   * tokens.forget();
   * assert.equal(await tokens.current(signal), "token-2");
   * ```
   */
  forget() {
    this.#cached = undefined;
  }
}
