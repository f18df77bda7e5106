/**
 * The WebSocket transport's framing against the real server: the resumed frame first, then one
 * JSON frame per update with its id, type, data and canonical topic; heartbeat frames on the
 * heartbeat interval; authorization from the query or the cookie (from the hub's own origin); live
 * private updates only to sockets entitled to them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hubUrl } from "./support/mercure.ts";
import { startServer } from "./support/server.ts";
import { publishAccepted } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { type HubSocket, openHubSocket } from "./support/ws_client.ts";

const BOOK = "https://example.com/books/1";
const USER_1 = "https://example.com/users/1";
const OFF = { TIDINGS_DEMO_FEEDS: "off", TIDINGS_SUBSCRIPTION_EVENTS: "off" };

Deno.test("a resumed socket gets the resumed frame first, then each update as one JSON frame", async () => {
  const server = await startServer({ env: OFF });
  let socket: HubSocket | undefined;
  try {
    const token = await mercureToken({ publish: ["*"] });
    const first = await publishAccepted(server.url, token, { topic: BOOK, data: "one" });
    const second = await publishAccepted(server.url, token, {
      topic: [BOOK, "https://example.com/alternate"],
      data: "two\nlines",
      type: "book_update",
      id: "book-2",
    });
    socket = await openHubSocket(
      hubUrl(server.url, [["topic", BOOK], ["lastEventID", first.body]]),
    );
    await socket.waitFor(1);
    const live = await publishAccepted(server.url, token, { topic: BOOK, data: "three" });
    await socket.waitFor(2);
    assert.deepEqual(socket.frames, [
      { type: "tidings:resumed", lastEventID: first.body },
      { id: second.body, type: "book_update", data: "two\nlines", topic: BOOK },
      { id: live.body, type: "message", data: "three", topic: BOOK },
    ]);
    assert.equal(second.body, "book-2");
  } finally {
    await socket?.close();
    await server.close();
  }
});

Deno.test("an unknown lastEventID resumes from earliest and says so in the resumed frame", async () => {
  const server = await startServer({ env: OFF });
  let socket: HubSocket | undefined;
  try {
    const token = await mercureToken({ publish: ["*"] });
    const only = await publishAccepted(server.url, token, { topic: BOOK, data: "kept" });
    socket = await openHubSocket(hubUrl(server.url, [["topic", BOOK], ["lastEventID", "gone"]]));
    await socket.waitFor(1);
    assert.deepEqual(socket.frames, [
      { type: "tidings:resumed", lastEventID: "earliest" },
      { id: only.body, type: "message", data: "kept", topic: BOOK },
    ]);
  } finally {
    await socket?.close();
    await server.close();
  }
});

Deno.test("an idle socket gets heartbeat frames, and no resumed frame unasked", async () => {
  const server = await startServer({ env: { ...OFF, TIDINGS_HEARTBEAT_MS: "100" } });
  let socket: HubSocket | undefined;
  try {
    socket = await openHubSocket(hubUrl(server.url, [["topic", BOOK]]));
    await socket.waitForFrame((frame) => frame.type === "tidings:heartbeat", 5000);
    await waitForCount(socket, (frame) => frame.type === "tidings:heartbeat", 2);
    assert.ok(socket.frames.every((frame) => frame.type === "tidings:heartbeat"));
    assert.deepEqual(socket.frames[0], { type: "tidings:heartbeat" });
  } finally {
    await socket?.close();
    await server.close();
  }
});

/** Waits until `count` frames match (5 s at most). */
async function waitForCount(
  socket: HubSocket,
  predicate: (frame: { type: string }) => boolean,
  count: number,
) {
  await socket.waitForFrame(() => socket.frames.filter(predicate).length >= count, 5000);
}

Deno.test("live private updates reach only the sockets whose token (query or cookie) allows them", async () => {
  const server = await startServer({ env: OFF });
  const sockets: HubSocket[] = [];
  try {
    const publisher = await mercureToken({ publish: ["*"] });
    const userToken = await mercureToken({ subscribe: [USER_1] });
    const open = async (params: [string, string][], headers: Record<string, string> = {}) => {
      const socket = await openHubSocket(
        hubUrl(server.url, [["topic", USER_1], ...params]),
        headers,
      );
      sockets.push(socket);
      return socket;
    };
    const viaQuery = await open([["authorization", userToken]]);
    const viaCookie = await open([], {
      cookie: `theme=dark; mercureAuthorization=${userToken}`,
      origin: server.url,
    });
    const anonymous = await open([]);
    const otherUser = await open([[
      "authorization",
      await mercureToken({ subscribe: ["https://example.com/users/2"] }),
    ]]);
    // Fences: each socket is registered once a public update reaches it.
    const fence = await publishAccepted(server.url, publisher, { topic: USER_1, data: "fence" });
    for (const socket of sockets) await socket.waitFor(1);
    const secret = await publishAccepted(server.url, publisher, {
      topic: USER_1,
      data: "secret",
      private: "on",
    });
    const after = await publishAccepted(server.url, publisher, { topic: USER_1, data: "after" });
    const frame = (id: string, data: string) => ({ id, type: "message", data, topic: USER_1 });
    for (const socket of [viaQuery, viaCookie]) {
      assert.deepEqual(await socket.waitFor(3), [
        frame(fence.body, "fence"),
        frame(secret.body, "secret"),
        frame(after.body, "after"),
      ]);
    }
    for (const socket of [anonymous, otherUser]) {
      assert.deepEqual(await socket.waitFor(2), [
        frame(fence.body, "fence"),
        frame(after.body, "after"),
      ]);
    }
  } finally {
    for (const socket of sockets) await socket.close();
    await server.close();
  }
});
