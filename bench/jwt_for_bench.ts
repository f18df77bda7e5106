/**
 * Signs the HS256 publisher token the benchmark uses, with WebCrypto only, so the bench does not
 * depend on the server's own JWT code.
 *
 * @module
 */

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/**
 * A compact HS256 JWS over `payload` with `secret`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { signHs256 } from "./jwt_for_bench.ts";
 * const token = await signHs256("secret", { mercure: { publish: ["*"] } });
 * assert.ok(token.split(".").length === 3);
 * ```
 */
export async function signHs256(secret: string, payload: Record<string, unknown>): Promise<string> {
  const encoder = new TextEncoder();
  const header = base64url(encoder.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
  const body = base64url(encoder.encode(JSON.stringify(payload)));
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign("HMAC", key, encoder.encode(`${header}.${body}`));
  return `${header}.${body}.${base64url(new Uint8Array(signature))}`;
}

/**
 * The publisher token: may publish to every topic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { benchPublisherToken } from "./jwt_for_bench.ts";
 * assert.ok((await benchPublisherToken("secret")).startsWith("eyJ"));
 * ```
 */
export function benchPublisherToken(secret: string): Promise<string> {
  return signHs256(secret, { mercure: { publish: ["*"] } });
}
