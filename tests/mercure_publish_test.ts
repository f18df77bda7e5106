/**
 * Black-box tests of Mercure publishing (draft-07) against the real server: what a publication
 * answers and exactly what subscribers receive. Refusals are in mercure_publish_refusals_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hubUrl } from "./support/mercure.ts";
import { startServer } from "./support/server.ts";
import {
  type EventStreamHandle,
  openSubscribed,
  parsedEvent,
  publishAccepted,
} from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

Deno.test("the hub answers Mercure publications and delivers them exactly", async (t) => {
  const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
  const token = await mercureToken({ publish: ["*"] });
  const publishOk = (fields: Record<string, string | string[]>) =>
    publishAccepted(server.url, token, fields);
  const streams: EventStreamHandle[] = [];
  const open = async (query: string) => {
    const stream = await openSubscribed(hubUrl(server.url, query));
    streams.push(stream);
    return stream;
  };
  try {
    await t.step(
      "a publication answers 200 text/plain with the publisher's id, the SSE id",
      async () => {
        const book = await open("topic=https://example.com/books/1");
        const result = await publishOk({
          topic: "https://example.com/books/1",
          id: "book-1-v1",
          data: '{"title":"Dune"}',
        });
        assert.equal(result.body, "book-1-v1");
        assert.equal(result.headers.get("content-type"), "text/plain; charset=utf-8");
        assert.deepEqual(await book.waitFor(1), [parsedEvent('{"title":"Dune"}', "book-1-v1")]);
      },
    );

    await t.step(
      "ids the hub generates are distinct urn:uuid values and are the SSE ids",
      async () => {
        const stream = await open("topic=generated");
        const first = await publishOk({ topic: "generated", data: "one" });
        const second = await publishOk({ topic: "generated", data: "two" });
        assert.match(first.body, UUID_URN);
        assert.match(second.body, UUID_URN);
        assert.notEqual(first.body, second.body);
        assert.deepEqual(await stream.waitFor(2), [
          parsedEvent("one", first.body),
          parsedEvent("two", second.body),
        ]);
      },
    );

    await t.step("type becomes the SSE event field and retry the retry field", async () => {
      const stream = await open("topic=typed");
      const result = await publishOk({
        topic: "typed",
        type: "book_updated",
        retry: "1234",
        data: "x",
      });
      assert.deepEqual(await stream.waitFor(1), [parsedEvent("x", result.body, "book_updated")]);
      assert.equal(stream.retry, 1234);
    });

    await t.step("data arrives exactly, with CRLF and lone CR turned into LF", async () => {
      const stream = await open("topic=text");
      const payloads = [
        "first\r\nsecond\rthird\n\nfifth",
        "  two leading spaces\r\n\r\n   and three",
        "¡héllo wörld! 世界 🎉 \u2028 not a line break",
        "ends with a break\r\n",
        "\r",
        "",
      ];
      const ids: string[] = [];
      for (const data of payloads) ids.push((await publishOk({ topic: "text", data })).body);
      // Publishing with no data field at all delivers an event with empty data.
      ids.push((await publishOk({ topic: "text" })).body);
      assert.deepEqual(await stream.waitFor(payloads.length + 1), [
        ...payloads.map((data, i) => parsedEvent(data.replace(/\r\n|\r/g, "\n"), ids[i])),
        parsedEvent("", ids[payloads.length]),
      ]);
    });

    await t.step(
      "an update with alternate topics reaches subscribers of any of them once",
      async () => {
        const canonical = await open("topic=https://example.com/books/7");
        const alternate = await open("topic=https://example.com/users/ann");
        const other = await open("topic=https://example.com/users/bob");
        const both = await open(
          "topic=https://example.com/books/7&topic=https://example.com/users/ann",
        );
        const shared = await publishOk({
          topic: ["https://example.com/books/7", "https://example.com/users/ann"],
          data: "shared",
        });
        // A fence every subscriber matches: whatever arrives before it is all that was delivered.
        const fence = await publishOk({
          topic: [
            "https://example.com/users/bob",
            "https://example.com/books/7",
            "https://example.com/users/ann",
          ],
          data: "fence",
        });
        const expected = [parsedEvent("shared", shared.body), parsedEvent("fence", fence.body)];
        assert.deepEqual(await canonical.waitFor(2), expected);
        assert.deepEqual(await alternate.waitFor(2), expected);
        assert.deepEqual(await other.waitFor(1), [parsedEvent("fence", fence.body)]);
        assert.deepEqual(await both.waitFor(2), expected);
      },
    );
  } finally {
    for (const stream of streams) await stream.close();
    await server.close();
  }
});
