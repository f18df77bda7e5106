/**
 * Loads the JWT keys from the settings. With no key configured the hub still starts: it makes a
 * development key (shared by every isolate through KV) and returns a ready-to-use token that
 * expires after {@link DEV_TOKEN_LIFETIME_S} (a fresh one is made at each start).
 *
 * @module
 */

import type { Config } from "../app/config.ts";
import { importSignKey, importVerifyKey, signJwt } from "./jwt.ts";
import type { AuthKeys } from "./mercure_auth.ts";

const DEV_KEY: Deno.KvKey = ["meta", "devJwtKey"];

/** How long the development token printed at start stays valid: 24 hours. */
export const DEV_TOKEN_LIFETIME_S = 24 * 60 * 60;

/**
 * Imports the publisher and subscriber keys; `devToken` is set when a development key was made.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEV_TOKEN_LIFETIME_S, loadAuthKeys } from "./auth_keys.ts";
 * import { loadConfig } from "../app/config.ts";
 * const kv = await Deno.openKv(":memory:");
 * const { devToken } = await loadAuthKeys(loadConfig(() => undefined), kv);
 * const claims = JSON.parse(atob(devToken!.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
 * assert.ok(Math.abs(claims.exp - (Date.now() / 1000 + DEV_TOKEN_LIFETIME_S)) < 60);
 * kv.close();
 * ```
 */
export async function loadAuthKeys(
  config: Config,
  kv: Deno.Kv,
): Promise<{ keys: AuthKeys; devToken?: string }> {
  const algorithm = config.jwtAlgorithm;
  const publisher = config.publisherJwtKey ?? config.jwtKey;
  const subscriber = config.subscriberJwtKey ?? config.jwtKey;
  if (publisher || subscriber) {
    const keys: AuthKeys = {};
    if (publisher) keys.publisher = { key: await importVerifyKey(algorithm, publisher), algorithm };
    if (subscriber) {
      keys.subscriber = { key: await importVerifyKey(algorithm, subscriber), algorithm };
    }
    return { keys };
  }
  const fresh = Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  await kv.atomic().check({ key: DEV_KEY, versionstamp: null }).set(DEV_KEY, fresh).commit();
  const secret = (await kv.get<string>(DEV_KEY)).value ?? fresh;
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
