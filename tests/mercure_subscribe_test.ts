/**
 * Black-box tests of Mercure subscriptions (draft-07) against the real server: which updates each
 * kind of topic selector receives, the discovery `Link` header, refused selectors, and the demo
 * feeds as ordinary topics. Resumption is in mercure_resume_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ParsedEvent } from "../client/sse_parser.js";
import { expectedRefusal, HUB_PATH, hubUrl, readRefusal } from "./support/mercure.ts";
import { type RunningServer, startServer } from "./support/server.ts";
import {
  type EventStreamHandle,
  openSubscribed,
  parsedEvent,
  publish,
  publishAccepted,
} from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Opens a subscription to `topics` and waits until the hub has registered it. */
function subscribe(server: RunningServer, topics: string[]): Promise<EventStreamHandle> {
  return openSubscribed(hubUrl(server.url, topics.map((topic) => ["topic", topic])));
}

Deno.test("subscribers receive exactly the updates their topic selectors match", async (t) => {
  const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
  const token = await mercureToken({ publish: ["*"] });
  const streams: EventStreamHandle[] = [];
  try {
    await t.step("exact, *, URI template and several selectors select their updates", async () => {
      const open = async (topics: string[]) => {
        const stream = await subscribe(server, topics);
        streams.push(stream);
        return stream;
      };
      const exact = await open(["https://example.com/books/1"]);
      const everything = await open(["*"]);
      const template = await open(["https://example.com/books/{id}"]);
      const twoVariables = await open(["https://example.com/{collection}/1"]);
      const several = await open(["https://example.com/authors/1", "https://example.com/books/2"]);
      const topics = [
        "https://example.com/books/1",
        "https://example.com/books/2",
        "https://example.com/books/1/reviews",
        "https://example.com/authors/1",
        "https://example.com/books",
        "books/1",
      ];
      const sent: ParsedEvent[] = [];
      for (const [index, topic] of topics.entries()) {
        const result = await publishAccepted(server.url, token, { topic, data: `update ${index}` });
        sent.push(parsedEvent(`update ${index}`, result.body));
      }
      // A fence every subscriber matches: whatever arrives before it is all that was delivered.
      const fence = await publish(server.url, token, {
        topic: ["https://example.com/books/1", "https://example.com/authors/1"],
        data: "fence",
      });
      sent.push(parsedEvent("fence", fence.body));
      const expect = async (stream: EventStreamHandle, indexes: number[]) => {
        const wanted = [...indexes, topics.length].map((index) => sent[index]);
        assert.deepEqual(await stream.waitFor(wanted.length), wanted);
      };
      await expect(exact, [0]);
      await expect(everything, [0, 1, 2, 3, 4, 5]);
      await expect(template, [0, 1]);
      await expect(twoVariables, [0, 3]);
      await expect(several, [1, 3]);
    });

    await t.step(
      "every event stream carries the discovery Link header and no Last-Event-ID",
      () => {
        assert.equal(streams.length, 5);
        for (const stream of streams) {
          const headers = stream.response.headers;
          assert.equal(headers.get("content-type"), "text/event-stream");
          assert.equal(headers.get("link"), `<${server.url}${HUB_PATH}>; rel="mercure"`);
          assert.equal(headers.get("last-event-id"), null);
        }
      },
    );

    await t.step("bad or missing selectors are refused with 400 and a reason", async () => {
      const cases: [[string, string][], string][] = [
        [[], "missing topic: add at least one ?topic= selector"],
        [[["lastEventID", "earliest"]], "missing topic: add at least one ?topic= selector"],
        [[["topic", "https://example.com/books/{id"]], "bad topic selector: unclosed '{' at 26"],
        [[["topic", "https://example.com/{}"]], "bad topic selector: empty expression at 20"],
        [[["topic", "news"], ["topic", ""]], "bad topic selector: empty selector"],
      ];
      for (const [params, reason] of cases) {
        const response = await fetch(hubUrl(server.url, params));
        assert.deepEqual(
          await readRefusal(response),
          expectedRefusal(400, reason),
          JSON.stringify(params),
        );
      }
    });
  } finally {
    for (const stream of streams) await stream.close();
    await server.close();
  }
});

Deno.test("a Mercure subscriber of the topic clock receives the clock feed's tick events", async () => {
  const server = await startServer();
  let stream: EventStreamHandle | undefined;
  try {
    stream = await subscribe(server, ["clock"]);
    const ticks = await stream.waitFor(2);
    for (const tick of ticks) {
      assert.equal(tick.type, "tick");
      assert.match(tick.lastEventId, UUID_URN);
      const data = JSON.parse(tick.data);
      assert.deepEqual(Object.keys(data).sort(), ["epochMs", "time"]);
      assert.equal(data.time, new Date(data.epochMs).toISOString());
    }
    assert.notEqual(ticks[0].lastEventId, ticks[1].lastEventId);
    assert.ok(JSON.parse(ticks[1].data).epochMs > JSON.parse(ticks[0].data).epochMs);
  } finally {
    await stream?.close();
    await server.close();
  }
});
