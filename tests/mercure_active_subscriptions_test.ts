/**
 * Black-box tests of Mercure active subscriptions (draft-07) against the real server: the private
 * updates on `/.well-known/mercure/subscriptions/{topic}/{subscriber}` when a subscription starts
 * and ends, and the JSON-LD subscriptions API.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ParsedEvent } from "../client/sse_parser.js";
import { hubUrl } from "./support/mercure.ts";
import { type RunningServer, startServer } from "./support/server.ts";
import {
  type EventStreamHandle,
  openEventStream,
  openSubscribed,
  publish,
} from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

const API = "/.well-known/mercure/subscriptions";
const WATCH = "/.well-known/mercure/subscriptions{/topic}{/subscriber}";
const BOOKS = "https://example.com/books/{id}";
const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Opens a subscription to `topic` and waits until the hub has registered it. */
function subscribe(
  server: RunningServer,
  topic: string,
  headers: HeadersInit = {},
): Promise<EventStreamHandle> {
  return openSubscribed(hubUrl(server.url, { topic }), { headers });
}

/** Waits until `count` events of a stream satisfy `accept`; returns them. */
async function waitForMatching(
  stream: EventStreamHandle,
  accept: (event: ParsedEvent) => boolean,
  count: number,
): Promise<ParsedEvent[]> {
  const deadline = Date.now() + 10_000;
  while (stream.events.filter(accept).length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const matching = stream.events.filter(accept);
  assert.equal(matching.length, count, `events so far: ${JSON.stringify(stream.events)}`);
  return matching;
}

/** GETs a subscriptions API path; returns status, content type and the parsed (or raw) body. */
async function getApi(server: RunningServer, path: string, token?: string) {
  const headers: HeadersInit = token ? { authorization: `Bearer ${token}` } : {};
  const response = await fetch(`${server.url}${path}`, { headers });
  const text = await response.text();
  const type = response.headers.get("content-type");
  return {
    status: response.status,
    type,
    body: type === "application/ld+json" ? JSON.parse(text) : text,
  };
}

Deno.test("subscriptions are announced as private updates and listed by the API", async (t) => {
  const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
  const watcherToken = await mercureToken({ subscribe: [WATCH] });
  const streams: EventStreamHandle[] = [];
  try {
    const viaTemplate = await subscribe(server, WATCH, { authorization: `Bearer ${watcherToken}` });
    const viaStar = await subscribe(server, WATCH, {
      authorization: `Bearer ${await mercureToken({ subscribe: ["*"] })}`,
    });
    const anonymous = await subscribe(server, WATCH);
    streams.push(viaTemplate, viaStar, anonymous);
    const reader = await subscribe(server, BOOKS);
    streams.push(reader);
    const isBooks = (event: ParsedEvent) => JSON.parse(event.data).topic === BOOKS;
    let record: Record<string, unknown> = {};

    await t.step(
      "subscribing publishes an active: true record to authorised watchers",
      async () => {
        const [event] = await waitForMatching(viaTemplate, isBooks, 1);
        const data = JSON.parse(event.data);
        assert.match(data.subscriber, UUID_URN);
        record = {
          id: `${API}/${encodeURIComponent(BOOKS)}/${encodeURIComponent(data.subscriber)}`,
          type: "Subscription",
          topic: BOOKS,
          subscriber: data.subscriber,
          active: true,
        };
        assert.deepEqual(data, { "@context": "https://mercure.rocks/", ...record });
        assert.match(event.lastEventId, UUID_URN);
        assert.deepEqual(await waitForMatching(viaStar, isBooks, 1), [event]);
      },
    );

    await t.step(
      "the API lists the subscription to a subscriber token, refuses others",
      async () => {
        const list = await getApi(server, API, watcherToken);
        assert.equal(list.status, 200);
        assert.equal(list.type, "application/ld+json");
        assert.equal(typeof list.body.lastEventID, "string");
        const { subscriptions, ...envelope } = list.body;
        assert.deepEqual(envelope, {
          "@context": "https://mercure.rocks/",
          id: API,
          type: "Subscriptions",
          lastEventID: list.body.lastEventID,
        });
        assert.deepEqual(
          subscriptions.filter((item: { topic: string }) => item.topic === BOOKS),
          [record],
        );
        const byTopic = await getApi(server, `${API}/${encodeURIComponent(BOOKS)}`, watcherToken);
        assert.deepEqual(byTopic.body.subscriptions, [record]);
        const one = await getApi(server, String(record.id), watcherToken);
        assert.deepEqual(one.body, {
          "@context": "https://mercure.rocks/",
          ...record,
          lastEventID: one.body.lastEventID,
        });
        const reason =
          "the subscriptions API needs a subscriber token whose mercure.subscribe matches this URL\n";
        assert.deepEqual(await getApi(server, API), {
          status: 401,
          type: "text/plain; charset=utf-8",
          body: reason,
        });
        const unrelated = await mercureToken({ subscribe: [BOOKS] });
        assert.deepEqual(await getApi(server, API, unrelated), {
          status: 403,
          type: "text/plain; charset=utf-8",
          body: reason,
        });
      },
    );

    await t.step("the API's lastEventID resumes a subscription right after it", async () => {
      const publisher = await mercureToken({ publish: ["*"] });
      await publish(server.url, publisher, { topic: "after-listing", data: "before" });
      const { body } = await getApi(server, API, watcherToken);
      assert.notEqual(body.lastEventID, "earliest");
      const after = await publish(server.url, publisher, { topic: "after-listing", data: "after" });
      const resumed = await openEventStream(hubUrl(server.url, { topic: "after-listing" }), {
        headers: { "last-event-id": body.lastEventID },
      });
      streams.push(resumed);
      assert.equal(resumed.response.headers.get("last-event-id"), body.lastEventID);
      assert.deepEqual(await resumed.waitFor(1), [
        { type: "message", data: "after", lastEventId: after.body },
      ]);
    });

    await t.step(
      "leaving publishes active: false and the API forgets the subscription",
      async () => {
        await reader.close();
        const inactive = { "@context": "https://mercure.rocks/", ...record, active: false };
        for (const watcher of [viaTemplate, viaStar]) {
          const events = await waitForMatching(watcher, isBooks, 2);
          assert.deepEqual(events.map((event) => JSON.parse(event.data)), [
            { "@context": "https://mercure.rocks/", ...record },
            inactive,
          ]);
          assert.ok(
            watcher.events.every((event) => JSON.parse(event.data).type === "Subscription"),
            "watchers received nothing but subscription records",
          );
        }
        const list = await getApi(server, `${API}/${encodeURIComponent(BOOKS)}`, watcherToken);
        assert.deepEqual(list.body.subscriptions, []);
        assert.deepEqual(await getApi(server, String(record.id), watcherToken), {
          status: 404,
          type: "text/plain; charset=utf-8",
          body: "no such active subscription\n",
        });
      },
    );

    await t.step(
      "anonymous watchers of the same topic never receive the private records",
      async () => {
        const publisher = await mercureToken({ publish: ["*"] });
        const fence = await publish(server.url, publisher, {
          topic: `${API}/fence/public`,
          data: "fence",
        });
        assert.deepEqual(await anonymous.waitFor(1), [
          { type: "message", data: "fence", lastEventId: fence.body },
        ]);
      },
    );
  } finally {
    for (const stream of streams) await stream.close();
    await server.close();
  }
});
