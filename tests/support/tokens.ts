/**
 * Tokens for tests, signed with the secret the test server is started with.
 *
 * @module
 */

import { importSignKey, signJwt } from "../../lib/auth/jwt.ts";

/** The HS256 secret `startServer` configures. */
export const TEST_SECRET = "test-secret-key-for-tidings-tests";

/**
 * Signs an HS256 token with the `mercure` claim given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mercureToken } from "./tokens.ts";
 * const token = await mercureToken({ publish: ["*"] });
 * assert.ok(token.split(".").length === 3);
 * ```
 */
export async function mercureToken(
  mercure: { publish?: string[]; subscribe?: string[] },
  extra: Record<string, unknown> = {},
  secret = TEST_SECRET,
): Promise<string> {
  return signJwt({ mercure, ...extra }, await importSignKey("HS256", secret), "HS256");
}
