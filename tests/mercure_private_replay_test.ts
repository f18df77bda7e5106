/**
 * Private updates never leak through replay: history read back from the log (from `earliest` or
 * from an id) goes through the same authorisation as live delivery, over SSE and over WebSocket,
 * for anonymous subscribers and for subscribers whose token names another user, with exact topics
 * (per-topic logs) and with URI templates (the hub-wide log).
 *
 * Subscription events are off so the only private updates in the log are the test's own.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hubUrl } from "./support/mercure.ts";
import { type RunningServer, startServer } from "./support/server.ts";
import { openSubscribed, publishAccepted } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { openHubSocket } from "./support/ws_client.ts";

const USER_1 = "https://example.com/users/1";
const USERS = "https://example.com/users/{id}";

/** One update as every transport reports it: its id and data. */
interface Seen {
  id: string;
  data: string;
}

/** Who subscribes. */
interface Viewer {
  name: string;
  /** Query parameters that authenticate (none for anonymous). */
  auth: [string, string][];
  /** Whether the private updates are this viewer's to see. */
  entitled: boolean;
}

/** Reads the first `count` updates of a replaying subscription, over SSE or WebSocket. */
async function replay(
  server: RunningServer,
  transport: "sse" | "websocket",
  params: [string, string][],
  count: number,
): Promise<{ seen: Seen[]; resumedFrom: string | null | undefined }> {
  const url = hubUrl(server.url, params);
  if (transport === "sse") {
    const stream = await openSubscribed(url);
    try {
      const events = await stream.waitFor(count);
      return {
        seen: events.map((event) => ({ id: event.lastEventId, data: event.data })),
        resumedFrom: stream.response.headers.get("last-event-id"),
      };
    } finally {
      await stream.close();
    }
  }
  const socket = await openHubSocket(url);
  try {
    const frames = await socket.waitFor(count);
    const resumed = socket.frames.find((frame) => frame.type === "tidings:resumed");
    assert.equal(socket.frames[0], resumed, "the resumed frame comes first");
    return {
      seen: frames.map((frame) => ({ id: String(frame.id), data: String(frame.data) })),
      resumedFrom: resumed?.lastEventID,
    };
  } finally {
    await socket.close();
  }
}

Deno.test("replayed history carries private updates only to subscribers entitled to them", async (t) => {
  const server = await startServer({
    env: { TIDINGS_DEMO_FEEDS: "off", TIDINGS_SUBSCRIPTION_EVENTS: "off" },
  });
  try {
    const publisher = await mercureToken({ publish: ["*"] });
    const sent: (Seen & { private: boolean })[] = [];
    const send = async (data: string, isPrivate: boolean) => {
      const fields: Record<string, string> = { topic: USER_1, data };
      if (isPrivate) fields.private = "on";
      const { body: id } = await publishAccepted(server.url, publisher, fields);
      sent.push({ id, data, private: isPrivate });
    };
    await send("public before", false);
    await send("private 1", true);
    await send("public 1", false);
    await send("private 2", true);
    await send("public 2", false);
    const anchor = sent[0];
    const viewers: Viewer[] = [
      { name: "anonymous", auth: [], entitled: false },
      {
        name: "another user",
        auth: [[
          "authorization",
          await mercureToken({ subscribe: ["https://example.com/users/2"] }),
        ]],
        entitled: false,
      },
      {
        name: "the user",
        auth: [["authorization", await mercureToken({ subscribe: [USER_1] })]],
        entitled: true,
      },
    ];
    for (const transport of ["sse", "websocket"] as const) {
      for (const selector of [USER_1, USERS]) {
        for (const from of ["earliest", anchor.id]) {
          for (const viewer of viewers) {
            const name = `${transport}, ${selector === USER_1 ? "exact topic" : "template"}, ` +
              `from ${from === "earliest" ? "earliest" : "an id"}, ${viewer.name}`;
            await t.step(name, async () => {
              const expected = sent
                .filter((update) => viewer.entitled || !update.private)
                .slice(from === "earliest" ? 0 : 1)
                .map(({ id, data }) => ({ id, data }));
              const { seen, resumedFrom } = await replay(
                server,
                transport,
                [["topic", selector], ["lastEventID", from], ...viewer.auth],
                expected.length,
              );
              assert.deepEqual(seen, expected);
              assert.equal(resumedFrom, from);
            });
          }
        }
      }
    }
  } finally {
    await server.close();
  }
});
