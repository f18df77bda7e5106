import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { importSignKey, importVerifyKey, JwtError, signJwt, verifyJwt } from "../lib/auth/jwt.ts";
import {
  type AuthKeys,
  authorize,
  canPublishTo,
  canReceivePrivate,
  extractToken,
  readMercureClaims,
} from "../lib/auth/mercure_auth.ts";

const HUB = "http://hub.test/.well-known/mercure";
const PUBLISHER_SECRET = "publisher-secret-for-mercure-auth-tests";
const SUBSCRIBER_SECRET = "subscriber-secret-for-mercure-auth-tests";

/** The matcher the tests inject: "*" matches everything, anything else only itself. */
const simpleMatch = (selector: string, topic: string) => selector === "*" || selector === topic;

function request(init: { query?: string; authorization?: string; cookie?: string } = {}) {
  const headers = new Headers();
  if (init.authorization !== undefined) headers.set("authorization", init.authorization);
  if (init.cookie !== undefined) headers.set("cookie", init.cookie);
  return new Request(HUB + (init.query ?? ""), { headers });
}

async function hsKeys(): Promise<AuthKeys> {
  return {
    publisher: { key: await importVerifyKey("HS256", PUBLISHER_SECRET), algorithm: "HS256" },
    subscriber: { key: await importVerifyKey("HS256", SUBSCRIBER_SECRET), algorithm: "HS256" },
  };
}

async function hsToken(payload: Record<string, unknown>, secret = PUBLISHER_SECRET) {
  return signJwt(payload, await importSignKey("HS256", secret), "HS256");
}

async function assertRefused(attempt: Promise<unknown> | (() => unknown), reason: string) {
  const check = (error: unknown) => {
    assert.ok(error instanceof JwtError, `expected a JwtError, got ${error}`);
    assert.equal(error.reason, reason);
    return true;
  };
  if (typeof attempt === "function") assert.throws(attempt, check);
  else await assert.rejects(attempt, check);
}

Deno.test("a Bearer Authorization header is taken first, over the query and the cookie", () => {
  const found = extractToken(request({
    authorization: "Bearer header.token.value",
    query: "?topic=x&authorization=query.token.value",
    cookie: "mercureAuthorization=cookie.token.value",
  }));
  assert.deepEqual(found, { token: "header.token.value", source: "header" });
});

Deno.test("the authorization query parameter is taken over the cookie", () => {
  const found = extractToken(request({
    query: "?topic=x&authorization=query.token.value",
    cookie: "mercureAuthorization=cookie.token.value",
  }));
  assert.deepEqual(found, { token: "query.token.value", source: "query" });
});

Deno.test("the mercureAuthorization cookie is found among other cookies", () => {
  const cookies = [
    ["theme=dark; xmercureAuthorization=wrong; mercureAuthorization=c.t.v; z=1", "c.t.v"],
    ['mercureAuthorization="quoted.t.v"', "quoted.t.v"],
  ];
  for (const [cookie, token] of cookies) {
    assert.deepEqual(extractToken(request({ cookie })), { token, source: "cookie" });
  }
});

Deno.test("a request without a token, or with empty values, has no token", () => {
  assert.equal(extractToken(request()), undefined);
  assert.equal(
    extractToken(request({ query: "?authorization=", cookie: "mercureAuthorization=" })),
    undefined,
  );
  assert.equal(extractToken(request({ cookie: "other=1" })), undefined);
});

Deno.test("the Bearer scheme is matched without regard to case", () => {
  assert.deepEqual(extractToken(request({ authorization: "bearer a.b.c" })), {
    token: "a.b.c",
    source: "header",
  });
});

Deno.test("an Authorization header that is not Bearer <token> is refused", async () => {
  const reason = "malformed Authorization header: expected `Bearer <token>`";
  for (const authorization of ["Basic dXNlcjpwYXNz", "Bearer", "a.b.c", "Bearer a.b.c extra"]) {
    await assertRefused(() => extractToken(request({ authorization })), reason);
  }
});

Deno.test("the mercure claim is read with exp and sub beside it", () => {
  const claims = readMercureClaims({
    exp: 2_000_000_000,
    sub: "ada",
    other: true,
    mercure: { publish: ["/a"], subscribe: ["/b", "*"], payload: { user: 1 } },
  });
  assert.deepEqual(claims, {
    exp: 2_000_000_000,
    sub: "ada",
    publish: ["/a"],
    subscribe: ["/b", "*"],
    payload: { user: 1 },
  });
  assert.deepEqual(readMercureClaims({}), {});
});

Deno.test("a mercure claim of the wrong shape is refused", async () => {
  const cases: [unknown, string][] = [
    [{ publish: "*" }, "mercure.publish must be an array of strings"],
    [{ publish: ["/a", 1] }, "mercure.publish must be an array of strings"],
    [{ subscribe: [null] }, "mercure.subscribe must be an array of strings"],
    [["*"], "the mercure claim must be an object"],
    ["*", "the mercure claim must be an object"],
  ];
  for (const [mercure, reason] of cases) {
    await assertRefused(() => readMercureClaims({ mercure }), reason);
  }
});

Deno.test("authorize returns undefined when the request has no token", async () => {
  assert.equal(await authorize(request(), "subscriber", await hsKeys()), undefined);
});

Deno.test("authorize checks publisher tokens with the publisher key", async () => {
  const token = await hsToken({ mercure: { publish: ["/books/1"] }, sub: "svc" });
  const claims = await authorize(
    request({ authorization: `Bearer ${token}` }),
    "publisher",
    await hsKeys(),
  );
  assert.deepEqual(claims, { publish: ["/books/1"], sub: "svc" });
});

Deno.test("authorize checks subscriber tokens with the subscriber key, not the publisher's", async () => {
  const keys = await hsKeys();
  const good = await hsToken({ mercure: { subscribe: ["*"] } }, SUBSCRIBER_SECRET);
  const cookie = `mercureAuthorization=${good}`;
  assert.deepEqual(await authorize(request({ cookie }), "subscriber", keys), { subscribe: ["*"] });
  const publisherSigned = await hsToken({ mercure: { subscribe: ["*"] } }, PUBLISHER_SECRET);
  await assertRefused(
    authorize(request({ query: `?authorization=${publisherSigned}` }), "subscriber", keys),
    "signature invalid",
  );
});

Deno.test("authorize refuses a token when no key is configured for the role", async () => {
  const token = await hsToken({ mercure: { publish: ["*"] } });
  const keys = { subscriber: (await hsKeys()).subscriber };
  await assertRefused(
    authorize(request({ authorization: `Bearer ${token}` }), "publisher", keys),
    "no publisher key is configured",
  );
});

Deno.test("authorize refuses expired tokens and bad mercure claims", async () => {
  const keys = await hsKeys();
  const expired = await hsToken({ exp: Math.floor(Date.now() / 1000) - 60 });
  await assertRefused(
    authorize(request({ authorization: `Bearer ${expired}` }), "publisher", keys),
    "token expired",
  );
  const bad = await hsToken({ mercure: { publish: "*" } });
  await assertRefused(
    authorize(request({ authorization: `Bearer ${bad}` }), "publisher", keys),
    "mercure.publish must be an array of strings",
  );
});

Deno.test("authorize accepts ES256 tokens from the query parameter", async () => {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const publicJwk = JSON.stringify(await crypto.subtle.exportKey("jwk", pair.publicKey));
  const privateJwk = JSON.stringify(await crypto.subtle.exportKey("jwk", pair.privateKey));
  const token = await signJwt(
    { mercure: { subscribe: ["/x"] } },
    await importSignKey("ES256", privateJwk),
    "ES256",
  );
  const keys: AuthKeys = {
    subscriber: { key: await importVerifyKey("ES256", publicJwk), algorithm: "ES256" },
  };
  assert.deepEqual(
    await authorize(request({ query: `?authorization=${token}` }), "subscriber", keys),
    {
      subscribe: ["/x"],
    },
  );
});

Deno.test("publishing needs every topic of the update to match a publish selector", () => {
  const claims = { publish: ["/books/1", "/users/1"] };
  assert.equal(canPublishTo(claims, ["/books/1"], simpleMatch), true);
  assert.equal(canPublishTo(claims, ["/books/1", "/users/1"], simpleMatch), true);
  assert.equal(canPublishTo(claims, ["/books/1", "/books/2"], simpleMatch), false);
  assert.equal(canPublishTo({ publish: ["*"] }, ["/anything", "/else"], simpleMatch), true);
});

Deno.test("publishing is refused without claims, without publish selectors or without topics", () => {
  assert.equal(canPublishTo(undefined, ["/a"], simpleMatch), false);
  assert.equal(canPublishTo({ subscribe: ["*"] }, ["/a"], simpleMatch), false);
  assert.equal(canPublishTo({ publish: [] }, ["/a"], simpleMatch), false);
  assert.equal(canPublishTo({ publish: ["*"] }, [], simpleMatch), false);
});

Deno.test("a private update reaches a subscriber when any of its topics matches a subscribe selector", () => {
  const claims = { subscribe: ["/users/foo"] };
  assert.equal(canReceivePrivate(claims, ["/books/1", "/users/foo"], simpleMatch), true);
  assert.equal(canReceivePrivate(claims, ["/books/1"], simpleMatch), false);
  assert.equal(canReceivePrivate({ subscribe: ["*"] }, ["/books/1"], simpleMatch), true);
});

Deno.test("a private update never reaches a subscriber without subscribe selectors", () => {
  assert.equal(canReceivePrivate(undefined, ["/a"], simpleMatch), false);
  assert.equal(canReceivePrivate({ publish: ["*"] }, ["/a"], simpleMatch), false);
  assert.equal(canReceivePrivate({ subscribe: [] }, ["/a"], simpleMatch), false);
});

const SCRIPT = fileURLToPath(new URL("../scripts/token.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function runTokenScript(args: string[], env: Record<string, string> = {}) {
  const passThrough: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["HOME", "PATH", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) passThrough[name] = value;
  }
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-env", SCRIPT, ...args],
    cwd: ROOT,
    env: { ...passThrough, ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("the token script mints a publish-and-subscribe-all token with the --key secret", async () => {
  const { code, stdout } = await runTokenScript(["--key", PUBLISHER_SECRET]);
  assert.equal(code, 0);
  assert.match(stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  const payload = await verifyJwt(
    stdout.trim(),
    await importVerifyKey("HS256", PUBLISHER_SECRET),
    "HS256",
  );
  assert.deepEqual(payload, { mercure: { publish: ["*"], subscribe: ["*"] } });
});

Deno.test("the token script puts repeated selectors and exp in the token", async () => {
  const before = Math.floor(Date.now() / 1000);
  const { code, stdout } = await runTokenScript(
    ["--publish", "/a", "--publish", "/b/{id}", "--exp", "3600"],
    { TIDINGS_JWT_KEY: "general", TIDINGS_PUBLISHER_JWT_KEY: PUBLISHER_SECRET },
  );
  assert.equal(code, 0);
  const payload = await verifyJwt(
    stdout.trim(),
    await importVerifyKey("HS256", PUBLISHER_SECRET),
    "HS256",
  );
  assert.deepEqual(payload.mercure, { publish: ["/a", "/b/{id}"] });
  assert.ok(payload.exp! >= before + 3600 && payload.exp! <= Math.floor(Date.now() / 1000) + 3600);
});

Deno.test("the token script falls back to TIDINGS_JWT_KEY and signs ES256 with a private PEM", async () => {
  const fallback = await runTokenScript(["--subscribe", "/s"], {
    TIDINGS_JWT_KEY: SUBSCRIBER_SECRET,
  });
  assert.equal(fallback.code, 0);
  const verified = await verifyJwt(
    fallback.stdout.trim(),
    await importVerifyKey("HS256", SUBSCRIBER_SECRET),
    "HS256",
  );
  assert.deepEqual(verified, { mercure: { subscribe: ["/s"] } });

  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const pem = `-----BEGIN PRIVATE KEY-----\n${
    btoa(String.fromCharCode(...der))
  }\n-----END PRIVATE KEY-----`;
  const es = await runTokenScript(["--alg", "ES256", "--key", pem, "--publish", "*"]);
  assert.equal(es.code, 0);
  const publicJwk = JSON.stringify(await crypto.subtle.exportKey("jwk", pair.publicKey));
  assert.deepEqual(
    await verifyJwt(es.stdout.trim(), await importVerifyKey("ES256", publicJwk), "ES256"),
    {
      mercure: { publish: ["*"] },
    },
  );
});

Deno.test("the token script exits with code 2 and says why when it has no key or bad flags", async () => {
  const noKey = await runTokenScript([]);
  assert.equal(noKey.code, 2);
  assert.equal(noKey.stdout, "");
  assert.match(
    noKey.stderr,
    /^token: no key: pass --key or set TIDINGS_PUBLISHER_JWT_KEY or TIDINGS_JWT_KEY\n/,
  );
  const badAlg = await runTokenScript(["--alg", "PS256", "--key", "k"]);
  assert.equal(badAlg.code, 2);
  assert.match(badAlg.stderr, /^token: --alg must be HS256, RS256 or ES256, got PS256\n/);
  const badExp = await runTokenScript(["--exp", "soon", "--key", "k"]);
  assert.equal(badExp.code, 2);
  assert.match(
    badExp.stderr,
    /^token: --exp must be a positive whole number of seconds, got soon\n/,
  );
});
