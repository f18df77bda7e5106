/**
 * Black-box tests of Mercure reconnection (draft-07) against the real server: `Last-Event-ID`
 * header and `lastEventID` query parameter, `earliest`, unknown ids, and ids whose history the
 * retention job has trimmed.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ParsedEvent } from "../client/sse_parser.js";
import { HUB_PATH, hubUrl } from "./support/mercure.ts";
import { type RunningServer, startServer } from "./support/server.ts";
import {
  type EventStreamHandle,
  openSubscribed,
  parsedEvent,
  publish,
  publishAccepted,
} from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

const BOOK = "https://example.com/books/1";

/** How one subscription asks to resume. */
interface Resume {
  topics: string[];
  header?: string;
  query?: string;
}

/** Opens a resuming subscription and waits until the hub has registered it. */
function subscribe(server: RunningServer, resume: Resume): Promise<EventStreamHandle> {
  const params = new URLSearchParams(resume.topics.map((topic) => ["topic", topic]));
  if (resume.query !== undefined) params.set("lastEventID", resume.query);
  const headers: HeadersInit = resume.header === undefined
    ? {}
    : { "last-event-id": resume.header };
  return openSubscribed(hubUrl(server.url, params), { headers });
}

Deno.test("a subscription resumes exactly after the event its Last-Event-ID names", async () => {
  const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
  const token = await mercureToken({ publish: ["*"] });
  const streams: EventStreamHandle[] = [];
  try {
    const sent: ParsedEvent[] = [];
    const send = async (fields: Record<string, string | string[]>) => {
      const result = await publishAccepted(server.url, token, fields);
      sent.push(parsedEvent(String(fields.data), result.body));
    };
    await send({ topic: BOOK, id: "r1", data: "r1" });
    await send({ topic: BOOK, data: "r2 with a hub id" });
    await send({ topic: "https://example.com/books/2", data: "other topic" });
    await send({ topic: BOOK, id: "r3", data: "r3" });
    await send({ topic: BOOK, data: "r4 with a hub id" });
    const [r1, r2, other, r3, r4] = sent;
    const template = "https://example.com/books/{id}";
    const foreignHubId = "urn:uuid:00000000-0100-8000-8000-000000000000";
    const cases: { resume: Resume; resumedFrom: string; events: ParsedEvent[] }[] = [
      {
        resume: { topics: [BOOK], header: r2.lastEventId },
        resumedFrom: r2.lastEventId,
        events: [r3, r4],
      },
      { resume: { topics: [BOOK], query: "r1" }, resumedFrom: "r1", events: [r2, r3, r4] },
      { resume: { topics: [BOOK], header: "r3", query: "r1" }, resumedFrom: "r3", events: [r4] },
      {
        resume: { topics: [BOOK], query: "earliest" },
        resumedFrom: "earliest",
        events: [r1, r2, r3, r4],
      },
      {
        resume: { topics: [BOOK], header: "no-such-id" },
        resumedFrom: "earliest",
        events: [r1, r2, r3, r4],
      },
      {
        resume: { topics: [BOOK], header: foreignHubId },
        resumedFrom: "earliest",
        events: [r1, r2, r3, r4],
      },
      { resume: { topics: ["*"], query: "r1" }, resumedFrom: "r1", events: [r2, other, r3, r4] },
      {
        resume: { topics: ["*"], query: "no-such-id" },
        resumedFrom: "earliest",
        events: sent.slice(),
      },
      {
        resume: { topics: [template], header: "r1" },
        resumedFrom: "r1",
        events: [r2, other, r3, r4],
      },
      {
        resume: { topics: [template], header: r4.lastEventId },
        resumedFrom: r4.lastEventId,
        events: [],
      },
    ];
    for (const { resume } of cases) streams.push(await subscribe(server, resume));
    // A fence every subscription matches: whatever arrives before it is all that was replayed.
    await send({ topic: BOOK, id: "fence", data: "fence" });
    const fence = sent.at(-1)!;
    for (const [index, { resume, resumedFrom, events }] of cases.entries()) {
      const stream = streams[index];
      const label = JSON.stringify(resume);
      assert.equal(stream.response.headers.get("last-event-id"), resumedFrom, label);
      assert.equal(
        stream.response.headers.get("link"),
        `<${server.url}${HUB_PATH}>; rel="mercure"`,
      );
      assert.deepEqual(await stream.waitFor(events.length + 1), [...events, fence], label);
    }
  } finally {
    for (const stream of streams) await stream.close();
    await server.close();
  }
});

Deno.test("an id whose history was trimmed resumes from the earliest retained update", async () => {
  // Retention runs every 5 s in the background and keeps TIDINGS_HISTORY_SIZE updates per topic.
  const server = await startServer({
    env: { TIDINGS_DEMO_FEEDS: "off", TIDINGS_HISTORY_SIZE: "2" },
  });
  const token = await mercureToken({ publish: ["*"] });
  const streams: EventStreamHandle[] = [];
  try {
    for (const id of ["t1", "t2", "t3", "t4", "t5"]) {
      const result = await publish(server.url, token, { topic: "trimmed", id, data: id });
      assert.equal(result.body, id);
    }
    let resumedFrom: string | null = "t1";
    const deadline = Date.now() + 15_000;
    while (resumedFrom === "t1" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const probe = await subscribe(server, { topics: ["trimmed"], header: "t1" });
      resumedFrom = probe.response.headers.get("last-event-id");
      await probe.close();
    }
    assert.equal(resumedFrom, "earliest", "the retention job trimmed t1 within 15 s");
    const cases: { header: string; resumedFrom: string; events: string[] }[] = [
      { header: "t1", resumedFrom: "earliest", events: ["t4", "t5"] },
      { header: "t2", resumedFrom: "earliest", events: ["t4", "t5"] },
      // Resuming after t3 needs only t4 and later, which are kept.
      { header: "t3", resumedFrom: "t3", events: ["t4", "t5"] },
      { header: "t4", resumedFrom: "t4", events: ["t5"] },
    ];
    for (const { header } of cases) {
      streams.push(await subscribe(server, { topics: ["trimmed"], header }));
    }
    await publish(server.url, token, { topic: "trimmed", id: "fence", data: "fence" });
    for (const [index, { header, resumedFrom, events }] of cases.entries()) {
      const stream = streams[index];
      assert.equal(stream.response.headers.get("last-event-id"), resumedFrom, header);
      const expected = [...events, "fence"].map((id) => parsedEvent(id, id));
      assert.deepEqual(await stream.waitFor(expected.length), expected, header);
    }
  } finally {
    for (const stream of streams) await stream.close();
    await server.close();
  }
});
