import assert from "node:assert/strict";
import {
  importSignKey,
  importVerifyKey,
  type JwtAlgorithm,
  JwtError,
  signJwt,
  verifyJwt,
} from "../lib/auth/jwt.ts";

const SECRET = "a-test-secret-of-more-than-32-bytes!";
const NOW_MS = 1_700_000_000_000;
const NOW_S = NOW_MS / 1000;

function base64url(bytes: Uint8Array | string): string {
  const raw = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  let binary = "";
  for (const byte of raw) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
}

function toPem(der: ArrayBuffer, label: string): string {
  const body = base64url(new Uint8Array(der)).replaceAll("-", "+").replaceAll("_", "/");
  const padded = body + "=".repeat((4 - (body.length % 4)) % 4);
  const lines = padded.match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`;
}

async function keyPairMaterial(algorithm: "RS256" | "ES256", modulusLength = 2048) {
  const params = algorithm === "RS256"
    ? {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    }
    : { name: "ECDSA", namedCurve: "P-256" };
  const pair = await crypto.subtle.generateKey(params, true, ["sign", "verify"]) as CryptoKeyPair;
  return {
    publicPem: toPem(await crypto.subtle.exportKey("spki", pair.publicKey), "PUBLIC KEY"),
    privatePem: toPem(await crypto.subtle.exportKey("pkcs8", pair.privateKey), "PRIVATE KEY"),
    publicJwk: JSON.stringify(await crypto.subtle.exportKey("jwk", pair.publicKey)),
    privateJwk: JSON.stringify(await crypto.subtle.exportKey("jwk", pair.privateKey)),
  };
}

function hmacToken(header: Record<string, unknown>, payload: unknown, secret: string) {
  const encoded = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  return hmacSign(encoded, secret);
}

async function hmacSign(signingInput: string, secret: string) {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(signingInput));
  return `${signingInput}.${base64url(new Uint8Array(mac))}`;
}

async function assertRefused(promise: Promise<unknown>, reason: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof JwtError, `expected a JwtError, got ${error}`);
    assert.equal(error.reason, reason);
    return true;
  });
}

const hsVerifyKey = () => importVerifyKey("HS256", SECRET);
const hsToken = async (payload: Record<string, unknown>) =>
  signJwt(payload, await importSignKey("HS256", SECRET), "HS256");

Deno.test("an HS256 token verifies and returns its exact payload", async () => {
  const payload = { mercure: { publish: ["*"] }, sub: "ada", exp: NOW_S + 60 };
  const token = await hsToken(payload);
  const header = JSON.parse(atob(token.split(".")[0]));
  assert.deepEqual(header, { alg: "HS256", typ: "JWT" });
  assert.deepEqual(await verifyJwt(token, await hsVerifyKey(), "HS256", NOW_MS), payload);
});

Deno.test("an HS256 token made by an independent signer verifies", async () => {
  const token = await hmacToken({ alg: "HS256" }, { mercure: { subscribe: ["/a"] } }, SECRET);
  assert.deepEqual(await verifyJwt(token, await hsVerifyKey(), "HS256"), {
    mercure: { subscribe: ["/a"] },
  });
});

for (const algorithm of ["RS256", "ES256"] as const) {
  Deno.test(`an ${algorithm} token signed with a PKCS8 PEM verifies with the SPKI PEM`, async () => {
    const material = await keyPairMaterial(algorithm);
    const token = await signJwt(
      { n: 1 },
      await importSignKey(algorithm, material.privatePem),
      algorithm,
    );
    const key = await importVerifyKey(algorithm, material.publicPem);
    assert.deepEqual(await verifyJwt(token, key, algorithm), { n: 1 });
  });

  Deno.test(`an ${algorithm} token signed with a private JWK verifies with public and private JWKs`, async () => {
    const material = await keyPairMaterial(algorithm);
    const token = await signJwt(
      { n: 2 },
      await importSignKey(algorithm, material.privateJwk),
      algorithm,
    );
    for (const jwk of [material.publicJwk, material.privateJwk]) {
      const key = await importVerifyKey(algorithm, jwk);
      assert.equal(key.type, "public");
      assert.deepEqual(await verifyJwt(token, key, algorithm), { n: 2 });
    }
  });

  Deno.test(`an ${algorithm} token signed by another key pair is refused`, async () => {
    const signer = await keyPairMaterial(algorithm);
    const other = await keyPairMaterial(algorithm);
    const token = await signJwt({}, await importSignKey(algorithm, signer.privatePem), algorithm);
    const key = await importVerifyKey(algorithm, other.publicPem);
    await assertRefused(verifyJwt(token, key, algorithm), "signature invalid");
  });
}

Deno.test("an ES256 signature is the 64-byte raw r||s form", async () => {
  const material = await keyPairMaterial("ES256");
  const token = await signJwt({}, await importSignKey("ES256", material.privatePem), "ES256");
  const signature = token.split(".")[2].replaceAll("-", "+").replaceAll("_", "/");
  assert.equal(atob(signature + "=".repeat((4 - (signature.length % 4)) % 4)).length, 64);
});

Deno.test("a PEM whose line breaks are literal backslash-n sequences is accepted", async () => {
  const material = await keyPairMaterial("ES256");
  const flattened = material.publicPem.trim().replaceAll("\n", "\\n");
  const token = await signJwt({}, await importSignKey("ES256", material.privatePem), "ES256");
  assert.deepEqual(await verifyJwt(token, await importVerifyKey("ES256", flattened), "ES256"), {});
});

Deno.test("a token whose exp has passed or is now is refused as expired", async () => {
  const key = await hsVerifyKey();
  await assertRefused(
    verifyJwt(await hsToken({ exp: NOW_S - 1 }), key, "HS256", NOW_MS),
    "token expired",
  );
  await assertRefused(
    verifyJwt(await hsToken({ exp: NOW_S }), key, "HS256", NOW_MS),
    "token expired",
  );
  assert.deepEqual(await verifyJwt(await hsToken({ exp: NOW_S + 1 }), key, "HS256", NOW_MS), {
    exp: NOW_S + 1,
  });
});

Deno.test("a token whose nbf is beyond the 5 s leeway is refused", async () => {
  const key = await hsVerifyKey();
  await assertRefused(
    verifyJwt(await hsToken({ nbf: NOW_S + 6 }), key, "HS256", NOW_MS),
    "token not yet valid (nbf)",
  );
  assert.deepEqual(await verifyJwt(await hsToken({ nbf: NOW_S + 5 }), key, "HS256", NOW_MS), {
    nbf: NOW_S + 5,
  });
});

Deno.test("time claims that are not numbers are refused", async () => {
  const key = await hsVerifyKey();
  await assertRefused(
    verifyJwt(await hsToken({ exp: "tomorrow" }), key, "HS256"),
    "exp must be a number",
  );
  await assertRefused(
    verifyJwt(await hsToken({ nbf: null }), key, "HS256"),
    "nbf must be a number",
  );
});

Deno.test("an HS256 token signed with another secret is refused", async () => {
  const token = await hmacToken({ alg: "HS256" }, {}, "another-secret");
  await assertRefused(verifyJwt(token, await hsVerifyKey(), "HS256"), "signature invalid");
});

Deno.test("a token with a tampered payload is refused", async () => {
  const [header, , signature] = (await hsToken({ mercure: { publish: ["/mine"] } })).split(".");
  const forged = base64url(JSON.stringify({ mercure: { publish: ["*"] } }));
  await assertRefused(
    verifyJwt(`${header}.${forged}.${signature}`, await hsVerifyKey(), "HS256"),
    "signature invalid",
  );
});

Deno.test("an alg none token is refused whatever the case of none", async () => {
  const payload = base64url(JSON.stringify({ mercure: { publish: ["*"] } }));
  for (const alg of ["none", "None", "NONE"]) {
    const token = `${base64url(JSON.stringify({ alg, typ: "JWT" }))}.${payload}.`;
    await assertRefused(
      verifyJwt(token, await hsVerifyKey(), "HS256"),
      "algorithm none is not accepted",
    );
  }
});

Deno.test("an RS256 token presented to an HS256 hub is refused as an algorithm mismatch", async () => {
  const material = await keyPairMaterial("RS256");
  const token = await signJwt({}, await importSignKey("RS256", material.privatePem), "RS256");
  await assertRefused(
    verifyJwt(token, await hsVerifyKey(), "HS256"),
    "algorithm mismatch: expected HS256, got RS256",
  );
});

Deno.test("an HS256 token keyed with the RSA public key is refused by an RS256 hub", async () => {
  const material = await keyPairMaterial("RS256");
  const token = await hmacToken(
    { alg: "HS256" },
    { mercure: { publish: ["*"] } },
    material.publicPem,
  );
  await assertRefused(
    verifyJwt(token, await importVerifyKey("RS256", material.publicPem), "RS256"),
    "algorithm mismatch: expected RS256, got HS256",
  );
});

Deno.test("tokens with the wrong number of segments are refused as malformed", async () => {
  const key = await hsVerifyKey();
  const [header, payload, signature] = (await hsToken({})).split(".");
  await assertRefused(
    verifyJwt(`${header}.${payload}`, key, "HS256"),
    "malformed token: expected 3 segments, got 2",
  );
  await assertRefused(
    verifyJwt(`${header}.${payload}.${signature}.x`, key, "HS256"),
    "malformed token: expected 3 segments, got 4",
  );
  await assertRefused(verifyJwt("", key, "HS256"), "malformed token: expected 3 segments, got 1");
});

Deno.test("segments that are not base64url or not JSON objects are refused as malformed", async () => {
  const key = await hsVerifyKey();
  const [header, payload, signature] = (await hsToken({})).split(".");
  const cases: [string, string][] = [
    [`${header}+.${payload}.${signature}`, "malformed token: header is not base64url"],
    [`${header}.${payload}.${signature}=`, "malformed token: signature is not base64url"],
    [`${base64url("{not json")}.${payload}.${signature}`, "malformed token: header is not JSON"],
    [`${base64url("[1]")}.${payload}.${signature}`, "malformed token: header is not a JSON object"],
    [`${base64url("{}")}.${payload}.${signature}`, "malformed token: header has no alg"],
  ];
  for (const [token, reason] of cases) await assertRefused(verifyJwt(token, key, "HS256"), reason);
});

Deno.test("a correctly signed payload that is not a JSON object is refused as malformed", async () => {
  const key = await hsVerifyKey();
  const header = base64url(JSON.stringify({ alg: "HS256" }));
  const notJson = await hmacSign(`${header}.${base64url("not json")}`, SECRET);
  await assertRefused(verifyJwt(notJson, key, "HS256"), "malformed token: payload is not JSON");
  const badUtf8 = await hmacSign(
    `${header}.${base64url(new Uint8Array([0x7b, 0xff, 0x7d]))}`,
    SECRET,
  );
  await assertRefused(verifyJwt(badUtf8, key, "HS256"), "malformed token: payload is not JSON");
  const array = await hmacToken({ alg: "HS256" }, ["an", "array"], SECRET);
  await assertRefused(
    verifyJwt(array, key, "HS256"),
    "malformed token: payload is not a JSON object",
  );
});

Deno.test("a signature spelled with stray bits in its last character is refused", async () => {
  const token = await hsToken({});
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = token.at(-1)!;
  const twin = alphabet[alphabet.indexOf(last) ^ 1]; // 32 bytes: the last char's low 2 bits are unused
  await assertRefused(
    verifyJwt(token.slice(0, -1) + twin, await hsVerifyKey(), "HS256"),
    "malformed token: signature is not base64url",
  );
});

Deno.test("a token with critical header parameters is refused", async () => {
  const token = await hmacToken({ alg: "HS256", crit: ["exp"] }, {}, SECRET);
  await assertRefused(
    verifyJwt(token, await hsVerifyKey(), "HS256"),
    "unsupported critical header parameters",
  );
});

Deno.test("key material that does not fit the algorithm is refused at import", async () => {
  const rsa = await keyPairMaterial("RS256");
  const ec = await keyPairMaterial("ES256");
  const weak = await keyPairMaterial("RS256", 1024);
  const cases: [JwtAlgorithm, "sign" | "verify", string, RegExp][] = [
    ["RS256", "verify", rsa.privatePem, /must be a PEM "PUBLIC KEY", got "PRIVATE KEY"/],
    ["RS256", "sign", rsa.publicPem, /must be a PEM "PRIVATE KEY", got "PUBLIC KEY"/],
    ["RS256", "verify", ec.publicJwk, /needs kty "RSA"/],
    ["ES256", "sign", ec.publicJwk, /not a private key/],
    ["RS256", "verify", weak.publicPem, /at least 2048 bits, got 1024/],
    ["ES256", "verify", "not a key", /must be a PEM public key \(SPKI\) or a JWK/],
    ["HS256", "verify", "", /secret is empty/],
  ];
  for (const [algorithm, use, material, message] of cases) {
    const importer = use === "sign" ? importSignKey : importVerifyKey;
    await assert.rejects(importer(algorithm, material), { name: "TypeError", message });
  }
});

Deno.test("a key of another algorithm cannot verify or sign", async () => {
  const token = await hsToken({});
  await assert.rejects(verifyJwt(token, await hsVerifyKey(), "ES256"), {
    name: "TypeError",
    message: "the key given cannot verify ES256 tokens",
  });
  await assert.rejects(signJwt({}, await hsVerifyKey(), "HS256"), {
    name: "TypeError",
    message: "the key given cannot sign HS256 tokens",
  });
});
