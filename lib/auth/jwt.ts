/**
 * Compact JWS (JWT) signing and verification with WebCrypto only: HS256, RS256 and ES256.
 * The verifier trusts the configured algorithm, never the token's header, so `alg: none` and
 * algorithm-confusion tokens are refused.
 *
 * @module
 */

/** The signature algorithms tidings accepts (RFC 7518). */
export type JwtAlgorithm = "HS256" | "RS256" | "ES256";

/** The claims of a verified token. Registered time claims are numbers of seconds. */
export interface JwtPayload {
  [claim: string]: unknown;
  exp?: number;
  nbf?: number;
  iat?: number;
  sub?: string;
}

/** How far in the future `nbf` may be and still be accepted, for issuers whose clocks run ahead. */
const NBF_LEEWAY_SECONDS = 5;

const ALGORITHMS: Record<
  JwtAlgorithm,
  {
    importParams: RsaHashedImportParams | EcKeyImportParams | HmacImportParams;
    signParams: AlgorithmIdentifier | EcdsaParams;
  }
> = {
  HS256: { importParams: { name: "HMAC", hash: "SHA-256" }, signParams: "HMAC" },
  RS256: {
    importParams: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    signParams: "RSASSA-PKCS1-v1_5",
  },
  ES256: {
    importParams: { name: "ECDSA", namedCurve: "P-256" },
    signParams: { name: "ECDSA", hash: "SHA-256" },
  },
};

/**
 * A token that was presented but cannot be trusted; `reason` says why in a few words.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JwtError } from "./jwt.ts";
 * const error = new JwtError("token expired");
 * assert.deepEqual([error.reason, error.message], ["token expired", "token expired"]);
 * ```
 */
export class JwtError extends Error {
  /** Why the token was refused, e.g. "token expired" or "signature invalid". */
  readonly reason: string;

  constructor(reason: string) {
    super(reason);
    this.name = "JwtError";
    this.reason = reason;
  }
}

/**
 * Imports the key that checks tokens: for HS256 the shared secret (UTF-8), for RS256/ES256 a PEM
 * SPKI public key (`-----BEGIN PUBLIC KEY-----`) or a JWK JSON string (private members are
 * dropped). Throws `TypeError` for material that does not fit the algorithm.
 */
export function importVerifyKey(algorithm: JwtAlgorithm, material: string): Promise<CryptoKey> {
  return importKey(algorithm, material, "verify");
}

/**
 * Imports the key that signs tokens: for HS256 the shared secret (UTF-8), for RS256/ES256 a PEM
 * PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`) or a private JWK JSON string.
 */
export function importSignKey(algorithm: JwtAlgorithm, material: string): Promise<CryptoKey> {
  return importKey(algorithm, material, "sign");
}

/**
 * Signs `payload` as a compact JWS with header `{"alg": algorithm, "typ": "JWT"}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { importSignKey, signJwt } from "./jwt.ts";
 * const key = await importSignKey("HS256", "a shared secret");
 * const [header, payload] = (await signJwt({ sub: "ada" }, key, "HS256")).split(".");
 * assert.deepEqual(JSON.parse(atob(header)), { alg: "HS256", typ: "JWT" });
 * assert.deepEqual(JSON.parse(atob(payload)), { sub: "ada" });
 * ```
 */
export async function signJwt(
  payload: Record<string, unknown>,
  key: CryptoKey,
  algorithm: JwtAlgorithm,
): Promise<string> {
  assertKeyFits(key, algorithm, "sign");
  const encoder = new TextEncoder();
  const header = encodeBase64Url(encoder.encode(JSON.stringify({ alg: algorithm, typ: "JWT" })));
  const body = encodeBase64Url(encoder.encode(JSON.stringify(payload)));
  const signingInput = encoder.encode(`${header}.${body}`);
  const signature = await crypto.subtle.sign(ALGORITHMS[algorithm].signParams, key, signingInput);
  return `${header}.${body}.${encodeBase64Url(new Uint8Array(signature))}`;
}

/**
 * Verifies a compact JWS and returns its claims. Throws `JwtError` for a malformed token, a
 * header `alg` other than `algorithm`, a bad signature, an `exp` at or before `now`, or an `nbf`
 * more than 5 s after `now`. `now` is in milliseconds since the epoch (default `Date.now()`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { importSignKey, importVerifyKey, signJwt, verifyJwt } from "./jwt.ts";
 * const token = await signJwt({ sub: "ada" }, await importSignKey("HS256", "secret"), "HS256");
 * const payload = await verifyJwt(token, await importVerifyKey("HS256", "secret"), "HS256");
 * assert.equal(payload.sub, "ada");
 * const otherKey = await importVerifyKey("HS256", "another secret");
 * await assert.rejects(verifyJwt(token, otherKey, "HS256"), { name: "JwtError", reason: "signature invalid" });
 * ```
 */
export async function verifyJwt(
  token: string,
  key: CryptoKey,
  algorithm: JwtAlgorithm,
  now: number = Date.now(),
): Promise<JwtPayload> {
  assertKeyFits(key, algorithm, "verify");
  const segments = token.split(".");
  if (segments.length !== 3) {
    throw new JwtError(`malformed token: expected 3 segments, got ${segments.length}`);
  }
  const [headerSegment, payloadSegment, signatureSegment] = segments;
  const header = decodeJsonSegment(headerSegment, "header");
  if (typeof header.alg !== "string") throw new JwtError("malformed token: header has no alg");
  if (header.alg.toLowerCase() === "none") throw new JwtError("algorithm none is not accepted");
  if (header.alg !== algorithm) {
    throw new JwtError(`algorithm mismatch: expected ${algorithm}, got ${header.alg}`);
  }
  if (header.crit !== undefined) throw new JwtError("unsupported critical header parameters");
  const signature = decodeBase64Url(signatureSegment, "signature");
  if (algorithm === "ES256" && signature.length !== 64) throw new JwtError("signature invalid");
  const signingInput = new TextEncoder().encode(`${headerSegment}.${payloadSegment}`);
  const valid = await crypto.subtle.verify(
    ALGORITHMS[algorithm].signParams,
    key,
    signature,
    signingInput,
  );
  if (!valid) throw new JwtError("signature invalid");
  const payload = decodeJsonSegment(payloadSegment, "payload") as JwtPayload;
  for (const claim of ["exp", "nbf", "iat"] as const) {
    if (payload[claim] !== undefined && !Number.isFinite(payload[claim])) {
      throw new JwtError(`${claim} must be a number`);
    }
  }
  if (payload.sub !== undefined && typeof payload.sub !== "string") {
    throw new JwtError("sub must be a string");
  }
  const nowSeconds = now / 1000;
  if (payload.exp !== undefined && nowSeconds >= payload.exp) throw new JwtError("token expired");
  if (payload.nbf !== undefined && nowSeconds + NBF_LEEWAY_SECONDS < payload.nbf) {
    throw new JwtError("token not yet valid (nbf)");
  }
  return payload;
}

async function importKey(
  algorithm: JwtAlgorithm,
  material: string,
  use: "sign" | "verify",
): Promise<CryptoKey> {
  const params = ALGORITHMS[algorithm]?.importParams;
  if (!params) throw new TypeError(`unsupported JWT algorithm: ${algorithm}`);
  if (algorithm === "HS256") {
    if (material.length === 0) throw new TypeError("the HS256 secret is empty");
    return crypto.subtle.importKey("raw", new TextEncoder().encode(material), params, false, [use]);
  }
  const text = material.trim();
  let key: CryptoKey;
  if (text.startsWith("-----BEGIN")) {
    const der = decodePem(text, use === "verify" ? "PUBLIC KEY" : "PRIVATE KEY", algorithm);
    key = await crypto.subtle.importKey(use === "verify" ? "spki" : "pkcs8", der, params, false, [
      use,
    ]);
  } else if (text.startsWith("{")) {
    key = await crypto.subtle.importKey("jwk", parseJwk(text, algorithm, use), params, false, [
      use,
    ]);
  } else {
    const form = use === "verify" ? "PEM public key (SPKI)" : "PEM private key (PKCS#8)";
    throw new TypeError(`the ${algorithm} key must be a ${form} or a JWK JSON string`);
  }
  const bits = (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
  if (algorithm === "RS256" && bits < 2048) {
    throw new TypeError(`RS256 keys must have at least 2048 bits, got ${bits}`);
  }
  return key;
}

function decodePem(text: string, label: string, algorithm: JwtAlgorithm): Uint8Array<ArrayBuffer> {
  const match = /^-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----$/.exec(text);
  if (!match) throw new TypeError(`the ${algorithm} key is not a well-formed PEM block`);
  if (match[1] !== label) {
    const hint = label === "PRIVATE KEY" ? " (convert with `openssl pkcs8 -topk8 -nocrypt`)" : "";
    throw new TypeError(`the ${algorithm} key must be a PEM "${label}", got "${match[1]}"${hint}`);
  }
  // Environment variables often carry the line breaks as literal "\n".
  const body = match[2].replaceAll("\\n", "").replace(/\s+/g, "");
  try {
    return Uint8Array.from(atob(body), (char) => char.charCodeAt(0));
  } catch {
    throw new TypeError(`the ${algorithm} PEM key has invalid base64`);
  }
}

function parseJwk(text: string, algorithm: JwtAlgorithm, use: "sign" | "verify"): JsonWebKey {
  let jwk: Record<string, unknown>;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new TypeError(`the ${algorithm} key is not valid JSON`);
  }
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) {
    throw new TypeError(`the ${algorithm} JWK must be a JSON object`);
  }
  const kty = algorithm === "RS256" ? "RSA" : "EC";
  if (jwk.kty !== kty) throw new TypeError(`an ${algorithm} JWK needs kty "${kty}"`);
  if (algorithm === "ES256" && jwk.crv !== "P-256") {
    throw new TypeError(`an ES256 JWK needs crv "P-256"`);
  }
  if (jwk.alg !== undefined && jwk.alg !== algorithm) {
    throw new TypeError(`the JWK is for ${jwk.alg}, not ${algorithm}`);
  }
  if (use === "sign" && typeof jwk.d !== "string") {
    throw new TypeError(`the ${algorithm} JWK is not a private key`);
  }
  const members = kty === "RSA"
    ? (use === "verify" ? ["n", "e"] : ["n", "e", "d", "p", "q", "dp", "dq", "qi"])
    : (use === "verify" ? ["crv", "x", "y"] : ["crv", "x", "y", "d"]);
  const cleaned: Record<string, unknown> = { kty };
  for (const member of members) if (jwk[member] !== undefined) cleaned[member] = jwk[member];
  return cleaned as JsonWebKey;
}

function assertKeyFits(key: CryptoKey, algorithm: JwtAlgorithm, use: "sign" | "verify"): void {
  const expected = ALGORITHMS[algorithm]?.importParams;
  const actual = key.algorithm as Partial<
    RsaHashedKeyAlgorithm & EcKeyAlgorithm & HmacKeyAlgorithm
  >;
  const fits = expected !== undefined && actual.name === expected.name &&
    (actual.hash === undefined || actual.hash.name === "SHA-256") &&
    (actual.namedCurve === undefined || actual.namedCurve === "P-256") &&
    key.usages.includes(use);
  if (!fits) throw new TypeError(`the key given cannot ${use} ${algorithm} tokens`);
}

function decodeJsonSegment(segment: string, name: string): Record<string, unknown> {
  const bytes = decodeBase64Url(segment, name);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new JwtError(`malformed token: ${name} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new JwtError(`malformed token: ${name} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function decodeBase64Url(segment: string, name: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(segment) || segment.length % 4 === 1) {
    throw new JwtError(`malformed token: ${name} is not base64url`);
  }
  const base64 = segment.replaceAll("-", "+").replaceAll("_", "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
  // Refuse non-canonical encodings (stray bits in the last character): one token, one spelling.
  if (encodeBase64Url(bytes) !== segment) {
    throw new JwtError(`malformed token: ${name} is not base64url`);
  }
  return bytes;
}

function encodeBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
}
