/**
 * Black-box tests of Mercure subscriber authorization (draft-07) against the real server: private
 * updates reach only subscribers whose token allows them, wherever the token comes from; bad
 * tokens and (when disabled) anonymous subscribers are refused; a token's `exp` ends its stream.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ParsedEvent } from "../client/sse_parser.js";
import { expectedRefusal, hubUrl, readRefusal } from "./support/mercure.ts";
import { type RunningServer, startServer } from "./support/server.ts";
import {
  type EventStreamHandle,
  openSubscribed,
  parsedEvent,
  publish,
  publishAccepted,
} from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

const USER_1 = "https://example.com/users/1";

/** Opens a subscription with the given query and waits until the hub has registered it. */
function subscribe(
  server: RunningServer,
  params: [string, string][],
  headers: HeadersInit = {},
): Promise<EventStreamHandle> {
  return openSubscribed(hubUrl(server.url, params), { headers });
}

Deno.test("private updates reach only subscribers whose token allows them", async (t) => {
  const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
  const publisher = await mercureToken({ publish: ["*"] });
  const streams: EventStreamHandle[] = [];
  try {
    await t.step(
      "from the Authorization header, the authorization query or the cookie",
      async () => {
        const open = async (params: [string, string][], headers: HeadersInit = {}) => {
          const stream = await subscribe(server, [["topic", USER_1], ...params], headers);
          streams.push(stream);
          return stream;
        };
        const bearer = async (subscribe: string[]) => ({
          authorization: `Bearer ${await mercureToken({ subscribe })}`,
        });
        const viaHeader = await open([], await bearer(["https://example.com/users/{id}"]));
        const viaQuery = await open([[
          "authorization",
          await mercureToken({ subscribe: [USER_1] }),
        ]]);
        const viaCookie = await open([], {
          cookie: `theme=dark; mercureAuthorization=${await mercureToken({ subscribe: ["*"] })}`,
        });
        const anonymous = await open([]);
        const otherUser = await open([], await bearer(["https://example.com/users/2"]));
        const publisherOnly = await open([], { authorization: `Bearer ${publisher}` });

        const sent: ParsedEvent[] = [];
        const send = async (fields: Record<string, string | string[]>) => {
          const result = await publishAccepted(server.url, publisher, fields);
          sent.push(parsedEvent(String(fields.data), result.body));
        };
        await send({ topic: USER_1, data: "private to user 1", private: "on" });
        // Private with USER_1 as an alternate topic: a match on any topic authorises.
        await send({
          topic: ["https://example.com/books/9", USER_1],
          data: "alternate",
          private: "",
        });
        await send({ topic: USER_1, data: "public" });
        const [secret, alternate, open_] = sent;
        for (const stream of [viaHeader, viaQuery, viaCookie]) {
          assert.deepEqual(await stream.waitFor(3), [secret, alternate, open_]);
        }
        for (const stream of [anonymous, otherUser, publisherOnly]) {
          assert.deepEqual(await stream.waitFor(1), [open_]);
        }
      },
    );

    await t.step("a token that cannot be trusted is refused with 401 wherever it is", async () => {
      const forged = await mercureToken({ subscribe: ["*"] }, {}, "not-the-hub-secret");
      const expired = await mercureToken(
        { subscribe: ["*"] },
        { exp: Math.floor(Date.now() / 1000) - 60 },
      );
      const cases: [[string, string][], HeadersInit, string][] = [
        [[], { authorization: `Bearer ${forged}` }, "invalid token: signature invalid"],
        [[["authorization", forged]], {}, "invalid token: signature invalid"],
        [[], { cookie: `mercureAuthorization=${forged}` }, "invalid token: signature invalid"],
        [[], { authorization: `Bearer ${expired}` }, "invalid token: token expired"],
        [
          [],
          { authorization: "Bearer not-a-jwt" },
          "invalid token: malformed token: expected 3 segments, got 1",
        ],
      ];
      for (const [params, headers, reason] of cases) {
        const response = await fetch(hubUrl(server.url, [["topic", USER_1], ...params]), {
          headers,
        });
        assert.deepEqual(await readRefusal(response), expectedRefusal(401, reason), reason);
      }
    });

    await t.step("a subscriber is disconnected when its token's exp passes", async () => {
      const exp = Math.floor(Date.now() / 1000) + 2;
      const token = await mercureToken({ subscribe: ["*"] }, { exp });
      const stream = await subscribe(server, [["topic", USER_1]], {
        authorization: `Bearer ${token}`,
      });
      streams.push(stream);
      const result = await publish(server.url, publisher, {
        topic: USER_1,
        data: "before exp",
        private: "on",
      });
      assert.deepEqual(await stream.waitFor(1), [parsedEvent("before exp", result.body)]);
      const ended = await Promise.race([
        stream.endedByServer().then(() => Date.now()),
        new Promise<"still open">((resolve) => setTimeout(() => resolve("still open"), 8000)),
      ]);
      assert.notEqual(ended, "still open", "the stream ended within 5 s after exp");
      assert.ok(
        Number(ended) >= exp * 1000 - 100,
        `ended ${exp * 1000 - Number(ended)} ms before exp`,
      );
      assert.equal(stream.events.length, 1);
    });
  } finally {
    for (const stream of streams) await stream.close();
    await server.close();
  }
});

Deno.test("with TIDINGS_ANONYMOUS=off only subscribers with a token are admitted", async () => {
  const server = await startServer({
    env: { TIDINGS_DEMO_FEEDS: "off", TIDINGS_ANONYMOUS: "off" },
  });
  let stream: EventStreamHandle | undefined;
  try {
    const anonymous = await fetch(hubUrl(server.url, [["topic", USER_1]]));
    assert.deepEqual(
      await readRefusal(anonymous),
      expectedRefusal(401, "anonymous subscriptions are disabled: present a subscriber token"),
    );
    const token = await mercureToken({ subscribe: [USER_1] });
    stream = await subscribe(server, [["topic", USER_1]], { authorization: `Bearer ${token}` });
    const result = await publish(server.url, await mercureToken({ publish: ["*"] }), {
      topic: USER_1,
      data: "hello",
    });
    assert.deepEqual(await stream.waitFor(1), [parsedEvent("hello", result.body)]);
  } finally {
    await stream?.close();
    await server.close();
  }
});
