/**
 * Loads the JWT keys from the settings. With no key configured the hub still starts: it makes a
 * development key (shared by every isolate through KV) and returns a ready-to-use token that
 * expires after {@link DEV_TOKEN_LIFETIME_S} (a fresh one is made at each start).
 *
 * @module
 */

import { ConfigError } from "../util/start_refusal.ts";
import { importSignKey, importVerifyKey, signJwt } from "./jwt.ts";
import type { AuthKeys } from "./mercure_auth.ts";

/** The settings the keys come from (a subset of the hub's `Config`). */
export interface AuthKeySettings {
  jwtAlgorithm: "HS256" | "RS256" | "ES256";
  jwtKey?: string;
  publisherJwtKey?: string;
  subscriberJwtKey?: string;
}

const DEV_KEY = ["meta", "devJwtKey"];

/** Where the development key is shared between isolates and nodes (the hub's record store). */
export interface DevKeyStore {
  get<T>(key: readonly string[]): Promise<T | undefined>;
  setIfAbsent(key: readonly string[], value: unknown): Promise<boolean>;
}

/** How long the development token printed at start stays valid: 24 hours. */
export const DEV_TOKEN_LIFETIME_S = 24 * 60 * 60;

/**
 * Imports the publisher and subscriber keys; `devToken` is set when a development key was made.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEV_TOKEN_LIFETIME_S, loadAuthKeys } from "./auth_keys.ts";
 * const shared = new Map<string, unknown>();
 * const store = {
 *   get: <T>(key: readonly string[]) => Promise.resolve(shared.get(key.join("/")) as T | undefined),
 *   setIfAbsent: (key: readonly string[], value: unknown) =>
 *     Promise.resolve(!shared.has(key.join("/")) && !!shared.set(key.join("/"), value)),
 * };
 * const first = await loadAuthKeys({ jwtAlgorithm: "HS256" }, store);
 * const second = await loadAuthKeys({ jwtAlgorithm: "HS256" }, store);
 * assert.equal(first.devToken?.split(".").length, 3);
 * assert.equal(second.devToken?.split(".").length, 3);
 * assert.equal(shared.size, 1); // one development key, shared by both
 * const claims = JSON.parse(atob(first.devToken!.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
 * assert.ok(Math.abs(claims.exp - (Date.now() / 1000 + DEV_TOKEN_LIFETIME_S)) < 60);
 * ```
 */
export async function loadAuthKeys(
  config: AuthKeySettings,
  store: DevKeyStore,
): Promise<{ keys: AuthKeys; devToken?: string }> {
  const algorithm = config.jwtAlgorithm;
  const publisher = config.publisherJwtKey ?? config.jwtKey;
  const subscriber = config.subscriberJwtKey ?? config.jwtKey;
  if (publisher || subscriber) {
    // A key that does not import is a bad setting: refused naming its variable.
    const imported = (variable: string, key: string) =>
      importVerifyKey(algorithm, key).catch((error: Error) => {
        throw new ConfigError(variable, key, `a ${algorithm} key (${error.message})`, true);
      });
    const keys: AuthKeys = {};
    if (publisher) {
      const variable = config.publisherJwtKey ? "TIDINGS_PUBLISHER_JWT_KEY" : "TIDINGS_JWT_KEY";
      keys.publisher = { key: await imported(variable, publisher), algorithm };
    }
    if (subscriber) {
      const variable = config.subscriberJwtKey ? "TIDINGS_SUBSCRIBER_JWT_KEY" : "TIDINGS_JWT_KEY";
      keys.subscriber = { key: await imported(variable, subscriber), algorithm };
    }
    return { keys };
  }
  const fresh = Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  await store.setIfAbsent(DEV_KEY, fresh);
  const secret = (await store.get<string>(DEV_KEY)) ?? fresh;
  const key = await importVerifyKey("HS256", secret);
  const devToken = await signJwt(
    {
      exp: Math.floor(Date.now() / 1000) + DEV_TOKEN_LIFETIME_S,
      mercure: { publish: ["*"], subscribe: ["*"] },
    },
    await importSignKey("HS256", secret),
    "HS256",
  );
  return {
    keys: { publisher: { key, algorithm: "HS256" }, subscriber: { key, algorithm: "HS256" } },
    devToken,
  };
}
