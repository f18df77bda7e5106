/**
 * Black-box tests of refused Mercure publications against the real server: each malformed or
 * unauthorised publication gets a 4xx that names the problem, and appends nothing to the log.
 *
 * @module
 */

import assert from "node:assert/strict";
import { importSignKey, signJwt } from "../lib/auth/jwt.ts";
import { expectedRefusal, HUB_PATH, hubUrl, readRefusal } from "./support/mercure.ts";
import { type RunningServer, startServer } from "./support/server.ts";
import {
  type EventStreamHandle,
  openSubscribed,
  parsedEvent,
  publishAccepted,
} from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

const MAX_BODY_BYTES = 2048;

/** Posts a raw body to the hub. */
function post(server: RunningServer, body: BodyInit, headers: HeadersInit): Promise<Response> {
  return fetch(`${server.url}${HUB_PATH}`, { method: "POST", body, headers });
}

const base64Url = (text: string) =>
  btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

Deno.test("refused publications answer 4xx with a reason and append nothing", async (t) => {
  const server = await startServer({
    env: { TIDINGS_DEMO_FEEDS: "off", TIDINGS_MAX_BODY_BYTES: String(MAX_BODY_BYTES) },
  });
  const token = await mercureToken({ publish: ["*"] });
  /** Ids of every update this test published, in order. */
  const published: string[] = [];
  const publishOk = async (fields: Record<string, string | string[]>) => {
    const result = await publishAccepted(server.url, token, fields);
    published.push(result.body);
    return result;
  };
  const streams: EventStreamHandle[] = [];
  try {
    await publishOk({ topic: "before-refusals", data: "first" });
    await t.step("malformed or unauthorised publications get a 4xx with a reason", async () => {
      const form = (fields: [string, string][]) => new URLSearchParams(fields).toString();
      const formType = { "content-type": "application/x-www-form-urlencoded" };
      const bearer = (jwt: string) => ({ ...formType, authorization: `Bearer ${jwt}` });
      const valid = form([["topic", "refused"], ["data", "x"]]);
      const rsaKeys = await crypto.subtle.generateKey(
        {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength: 2048,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: "SHA-256",
        },
        true,
        ["sign", "verify"],
      );
      const rs256 = await signJwt({ mercure: { publish: ["*"] } }, rsaKeys.privateKey, "RS256");
      const none = `${base64Url('{"alg":"none","typ":"JWT"}')}.${
        base64Url('{"mercure":{"publish":["*"]}}')
      }.`;
      const forged = await signJwt(
        { mercure: { publish: ["*"] } },
        await importSignKey("HS256", "not-the-hub-secret"),
        "HS256",
      );
      const expired = await mercureToken({ publish: ["*"] }, {
        exp: Math.floor(Date.now() / 1000) - 60,
      });
      const booksOnly = await mercureToken({ publish: ["https://example.com/books/{id}"] });
      const subscribeOnly = await mercureToken({ subscribe: ["*"] });
      const tooManyTopics = form(Array.from({ length: 17 }, (_, i) => ["topic", `t${i}`]));
      const bigBody = form([["topic", "refused"], ["data", "x".repeat(MAX_BODY_BYTES)]]);
      const cases: {
        name: string;
        body: string;
        headers: HeadersInit;
        status: number;
        reason: string;
      }[] = [
        {
          name: "missing topic",
          body: form([["data", "x"]]),
          headers: bearer(token),
          status: 400,
          reason: "missing topic: the form needs at least one topic field",
        },
        {
          name: "empty topic",
          body: form([["topic", ""]]),
          headers: bearer(token),
          status: 400,
          reason: "topic must not be empty",
        },
        ...["#fragment", "#"].map((id) => ({
          name: `id ${id}`,
          body: form([["topic", "refused"], ["id", id]]),
          headers: bearer(token),
          status: 400,
          reason: "id must not start with #",
        })),
        ...["a\rb", "a\nb", "a\r\nb", "a\0b"].flatMap((value) => [
          {
            name: `id ${JSON.stringify(value)}`,
            body: form([["topic", "refused"], ["id", value]]),
            headers: bearer(token),
            status: 400,
            reason: "id must not contain CR, LF or NUL",
          },
          {
            name: `type ${JSON.stringify(value)}`,
            body: form([["topic", "refused"], ["type", value]]),
            headers: bearer(token),
            status: 400,
            reason: "type must not contain CR, LF or NUL",
          },
        ]),
        ...["1.5", "-1", "abc", "1e3", " 5"].map((retry) => ({
          name: `retry ${retry}`,
          body: form([["topic", "refused"], ["retry", retry]]),
          headers: bearer(token),
          status: 400,
          reason: "retry must be a non-negative integer (ms)",
        })),
        {
          name: "the reserved id earliest",
          body: form([["topic", "refused"], ["id", "earliest"]]),
          headers: bearer(token),
          status: 400,
          reason: "id must not be the reserved value earliest",
        },
        {
          name: "17 topics",
          body: tooManyTopics,
          headers: bearer(token),
          status: 400,
          reason: "too many topics (at most 16)",
        },
        {
          name: "body over the limit",
          body: bigBody,
          headers: bearer(token),
          status: 413,
          reason: `body larger than ${MAX_BODY_BYTES} bytes`,
        },
        {
          name: "JSON content type",
          body: JSON.stringify({ topic: "refused", data: "x" }),
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          status: 415,
          reason: "publish with Content-Type: application/x-www-form-urlencoded",
        },
        {
          name: "no token",
          body: valid,
          headers: formType,
          status: 401,
          reason: "publishing needs a token with mercure.publish",
        },
        {
          name: "a Basic Authorization header",
          body: valid,
          headers: { ...formType, authorization: "Basic dXNlcjpwYXNz" },
          status: 401,
          reason: "invalid token: malformed Authorization header: expected `Bearer <token>`",
        },
        {
          name: "bad signature",
          body: valid,
          headers: bearer(forged),
          status: 401,
          reason: "invalid token: signature invalid",
        },
        {
          name: "expired token",
          body: valid,
          headers: bearer(expired),
          status: 401,
          reason: "invalid token: token expired",
        },
        {
          name: "alg none",
          body: valid,
          headers: bearer(none),
          status: 401,
          reason: "invalid token: algorithm none is not accepted",
        },
        {
          name: "RS256 token on an HS256 hub",
          body: valid,
          headers: bearer(rs256),
          status: 401,
          reason: "invalid token: algorithm mismatch: expected HS256, got RS256",
        },
        ...[["refused"], ["https://example.com/books/1", "refused"]].map((topics) => ({
          name: `topics ${topics} outside mercure.publish`,
          body: form(topics.map((topic) => ["topic", topic])),
          headers: bearer(booksOnly),
          status: 403,
          reason: "mercure.publish of the token does not cover every topic of the update",
        })),
        {
          name: "token without mercure.publish",
          body: valid,
          headers: bearer(subscribeOnly),
          status: 403,
          reason: "mercure.publish of the token does not cover every topic of the update",
        },
      ];
      for (const refusal of cases) {
        const response = await post(server, refusal.body, refusal.headers);
        assert.deepEqual(
          await readRefusal(response),
          expectedRefusal(refusal.status, refusal.reason),
          refusal.name,
        );
        if (refusal.name === "no token") {
          assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="tidings"');
        }
      }
    });

    await t.step(
      "refused publications appended nothing: a replay from earliest has only the valid ones",
      async () => {
        const last = await publishOk({ topic: "after-refusals", data: "last" });
        const replay = await openSubscribed(hubUrl(server.url, "topic=*&lastEventID=earliest"));
        streams.push(replay);
        const events = await replay.waitFor(published.length);
        assert.deepEqual(events.map((event) => event.lastEventId), published);
        assert.equal(events.at(-1)?.lastEventId, last.body);
        // Nothing else follows in the log: a later update is the very next event.
        const fence = await publishOk({ topic: "after-refusals", data: "fence" });
        assert.deepEqual(
          (await replay.waitFor(published.length)).at(-1),
          parsedEvent("fence", fence.body),
        );
      },
    );
  } finally {
    for (const stream of streams) await stream.close();
    await server.close();
  }
});
