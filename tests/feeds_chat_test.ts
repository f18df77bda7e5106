import assert from "node:assert/strict";
import { Notifier, sleep } from "../lib/util/abortable.ts";
import type { FeedEvent } from "../lib/feeds/feed.ts";
import { chatFeed, isValidUserName, TypingTracker } from "../lib/feeds/chat.ts";

/** Resolves like `promise`, or rejects if it takes more than `ms` (a hang guard, not a timing test). */
async function within<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  const guard = new AbortController();
  try {
    return await Promise.race([
      promise,
      sleep(ms, guard.signal).then(() => Promise.reject(new Error(`no result within ${ms} ms`))),
    ]);
  } finally {
    guard.abort();
  }
}

const next = async (feed: AsyncGenerator<FeedEvent>) =>
  (await within(feed.next())).value as FeedEvent;

Deno.test("chat status reports exactly the present and typing users, sorted and unique", async () => {
  const controller = new AbortController();
  let clock = Date.UTC(2024, 4, 1, 12);
  const typing = new TypingTracker({ now: () => clock });
  typing.markTyping("zed");
  typing.markTyping("Ann");
  const feed = chatFeed({
    signal: controller.signal,
    presence: () => Promise.resolve(["zed", "bob", "Ann", "bob"]),
    typing,
    now: () => clock,
  });
  clock += 1000;
  const event = await next(feed);
  assert.deepEqual(event, {
    type: "chat_status",
    data: {
      room: "lobby",
      activeUsers: 3,
      users: ["Ann", "bob", "zed"],
      typingUsers: ["Ann", "zed"],
      lastActivity: "2024-05-01T12:00:00.000Z",
      time: "2024-05-01T12:00:01.000Z",
    },
  });
  controller.abort();
  assert.equal((await within(feed.next())).done, true);
});

Deno.test("chat status is sent again when presence changes, and not repeated before", async () => {
  const controller = new AbortController();
  let users = ["ann"];
  let polls = 0;
  const presence = () => {
    polls++;
    return users;
  };
  const typing = new TypingTracker();
  const feed = chatFeed({ signal: controller.signal, presence, typing, intervalMs: 5 });
  assert.deepEqual((await next(feed)).data.users, ["ann"]);
  const pending = feed.next();
  while (polls < 5) await sleep(5);
  users = ["ann", "ben"];
  const changed = (await within(pending)).value as FeedEvent;
  assert.deepEqual(changed.data.users, ["ann", "ben"]);
  assert.equal(changed.data.activeUsers, 2);
  assert.ok(polls >= 5);
  controller.abort();
});

Deno.test("chat status is refreshed after 15 s even when nothing changed", async () => {
  const controller = new AbortController();
  const typing = new TypingTracker();
  // At speed 1000 the 15 s refresh comes after 15 ms; polls (every 1 s / 1000) find no change.
  const options = { signal: controller.signal, presence: () => ["ann"], typing, speed: 1000 };
  const feed = chatFeed({ ...options, intervalMs: 1000 });
  const first = await next(feed);
  const second = await next(feed);
  assert.deepEqual({ ...second.data, time: "" }, { ...first.data, time: "" });
  controller.abort();
});

Deno.test("chat status wakes at once on a change notification", async () => {
  const controller = new AbortController();
  const changed = new Notifier();
  const typing = new TypingTracker();
  // Polls every ~11 days: only the notification can bring the second status in time.
  const feed = chatFeed({
    signal: controller.signal,
    presence: () => [],
    typing,
    changed,
    intervalMs: 1e9,
  });
  assert.deepEqual((await next(feed)).data.typingUsers, []);
  typing.markTyping("cleo");
  changed.notify();
  const woken = await next(feed);
  assert.deepEqual(woken.data.typingUsers, ["cleo"]);
  assert.equal(typeof woken.data.lastActivity, "string");
  controller.abort();
  assert.equal((await within(feed.next())).done, true);
});

Deno.test("chat feed stops when aborted while presence is still pending", async () => {
  const controller = new AbortController();
  const feed = chatFeed({
    signal: controller.signal,
    presence: () => new Promise<string[]>(() => {}),
    typing: new TypingTracker(),
  });
  const pending = feed.next();
  controller.abort();
  assert.deepEqual(await within(pending), { done: true, value: undefined });
});

Deno.test("typing marks expire after the ttl but the last activity stays", () => {
  let clock = 1_000_000;
  const tracker = new TypingTracker({ ttlMs: 4000, now: () => clock });
  assert.deepEqual(tracker.typingUsers(), []);
  assert.equal(tracker.lastActivity(), null);
  tracker.markTyping("bo");
  clock += 1000;
  tracker.markTyping("al");
  clock += 2999; // bo marked 3999 ms ago
  assert.deepEqual(tracker.typingUsers(), ["al", "bo"]);
  clock += 1; // bo marked 4000 ms ago
  assert.deepEqual(tracker.typingUsers(), ["al"]);
  tracker.markTyping("bo"); // again, at 4000
  clock += 999; // al marked 3999 ms ago
  assert.deepEqual(tracker.typingUsers(), ["al", "bo"]);
  clock += 1;
  assert.deepEqual(tracker.typingUsers(), ["bo"]);
  clock += 2999;
  assert.deepEqual(tracker.typingUsers(), ["bo"]);
  clock += 1;
  assert.deepEqual(tracker.typingUsers(), []);
  assert.equal(tracker.lastActivity(), new Date(1_000_000 + 4000).toISOString());
});

Deno.test("user names are 1-32 letters, digits, spaces or _ - . once trimmed", () => {
  for (const good of ["ann", " Zoë ", "Jean-Luc Picard", "user_42.b", "李小龍", "x".repeat(32)]) {
    assert.equal(isValidUserName(good), true, good);
  }
  const bad = [
    "",
    "   ",
    "x".repeat(33),
    "a\nb",
    "tab\there",
    "<b>",
    "a\u200bb",
    "semi;colon",
    "a\u0000",
  ];
  for (const name of bad) assert.equal(isValidUserName(name), false, JSON.stringify(name));
});
