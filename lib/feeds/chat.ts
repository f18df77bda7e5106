/**
 * The chat room status feed. Nothing here is simulated: the active users are whatever the hub
 * reports as present, and the typing users are whoever recently said they were typing.
 *
 * @module
 */

import { abortable, sleep } from "../util/abortable.ts";
import { type FeedEvent, type FeedOptions, isoTime, scaledMs } from "./feed.ts";

/** Where the chat feed reads who is typing; {@link TypingTracker} is one. */
export interface TypingSource {
  /** User names typing now, sorted. */
  typingUsers(): string[];
  /** ISO time of the latest typing notification, or null if none. */
  lastActivity(): string | null;
}

/**
 * Remembers who posted a typing notification in the last `ttlMs` milliseconds (default 4000).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TypingTracker } from "./chat.ts";
 * let now = 0;
 * const tracker = new TypingTracker({ ttlMs: 4000, now: () => now });
 * tracker.markTyping("bob");
 * assert.deepEqual(tracker.typingUsers(), ["bob"]);
 * now = 5000;
 * assert.deepEqual(tracker.typingUsers(), []);
 * ```
 */
export class TypingTracker implements TypingSource {
  #ttlMs: number;
  #now: () => number;
  #marks = new Map<string, number>();
  #last: number | null = null;

  /**
   * Creates an empty tracker.
   */
  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? 4000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Records that `user` is typing now.
   */
  markTyping(user: string): void {
    const now = this.#now();
    this.#prune(now);
    this.#marks.set(user, now);
    this.#last = now;
  }

  /**
   * The users who marked typing less than `ttlMs` ago, sorted; forgets the others.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { TypingTracker } from "./chat.ts";
   * const tracker = new TypingTracker();
   * tracker.markTyping("zoe");
   * tracker.markTyping("adam");
   * assert.deepEqual(tracker.typingUsers(), ["adam", "zoe"]);
   * ```
   */
  typingUsers(): string[] {
    this.#prune(this.#now());
    return [...this.#marks.keys()].sort();
  }

  /**
   * ISO time of the latest typing notification (even if it has expired), or null.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { TypingTracker } from "./chat.ts";
   * const tracker = new TypingTracker({ now: () => 0 });
   * tracker.markTyping("alice");
   * assert.equal(tracker.lastActivity(), "1970-01-01T00:00:00.000Z");
   * ```
   */
  lastActivity(): string | null {
    return this.#last === null ? null : isoTime(this.#last);
  }

  #prune(now: number): void {
    for (const [user, at] of this.#marks) {
      if (now - at >= this.#ttlMs) this.#marks.delete(user);
    }
  }
}

const USER_NAME = /^[\p{L}\p{M}\p{Nd} _.-]+$/u;

/**
 * Whether `name`, once trimmed, is a valid chat user name: 1–32 characters, each a letter, a
 * digit, a space, `_`, `-` or `.` (so no control or invisible characters).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidUserName } from "./chat.ts";
 * assert.equal(isValidUserName(" Zoë_2 "), true);
 * assert.equal(isValidUserName("a\nb"), false);
 * assert.equal(isValidUserName(""), false);
 * ```
 */
export function isValidUserName(name: string): boolean {
  const trimmed = name.trim();
  const length = [...trimmed].length;
  return length >= 1 && length <= 32 && USER_NAME.test(trimmed);
}

/** Options of {@link chatFeed}. */
export interface ChatOptions extends FeedOptions {
  /** Names of the users present in the room now, supplied by the hub. Called before `typing`. */
  presence: () => Promise<string[]> | string[];
  /** Who is typing. */
  typing: TypingSource;
  /** Optional wake-up: resolves (true) when presence or typing may have changed. */
  changed?: { wait(signal: AbortSignal): Promise<boolean> };
  /** How often to poll presence and typing, in ms (divided by the speed). Default 2000. */
  intervalMs?: number;
}

/** The status is sent again after this long (divided by the speed) even if nothing changed. */
export const CHAT_REFRESH_MS = 15_000;

/**
 * Yields a `"chat_status"` event
 * `{ room: "lobby", activeUsers, users, typingUsers, lastActivity, time }` at start, whenever the
 * status changes (checked every `intervalMs`, or at once when `changed` wakes it), and at least
 * every 15 s. `users` and `typingUsers` are sorted and unique. Errors of `presence` end the feed
 * (its runner restarts it). Returns when `signal` aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chatFeed, TypingTracker } from "./chat.ts";
 * const controller = new AbortController();
 * const typing = new TypingTracker();
 * const feed = chatFeed({ signal: controller.signal, presence: () => ["ann"], typing, now: () => 0 });
 * assert.deepEqual((await feed.next()).value, {
 *   type: "chat_status",
 *   data: {
 *     room: "lobby", activeUsers: 1, users: ["ann"], typingUsers: [], lastActivity: null,
 *     time: "1970-01-01T00:00:00.000Z",
 *   },
 * });
 * controller.abort();
 * await feed.return(undefined);
 * ```
 */
export async function* chatFeed(options: ChatOptions): AsyncGenerator<FeedEvent> {
  const { signal, typing, changed } = options;
  const now = options.now ?? Date.now;
  const pollMs = scaledMs(options.intervalMs ?? 2000, options.speed);
  const refreshMs = scaledMs(CHAT_REFRESH_MS, options.speed);
  let previousKey: string | undefined;
  let lastSent = -Infinity;
  while (!signal.aborted) {
    const present = await abortable(Promise.resolve(options.presence()), signal);
    if (present === undefined) return;
    const users = [...new Set(present)].sort();
    const typingUsers = [...new Set(typing.typingUsers())].sort();
    const lastActivity = typing.lastActivity();
    const key = JSON.stringify([users, typingUsers, lastActivity]);
    if (key !== previousKey || performance.now() - lastSent >= refreshMs) {
      previousKey = key;
      lastSent = performance.now();
      yield {
        type: "chat_status",
        data: {
          room: "lobby",
          activeUsers: users.length,
          users,
          typingUsers,
          lastActivity,
          time: isoTime(now()),
        },
      };
    }
    const untilRefresh = lastSent + refreshMs - performance.now();
    if (!(await wake(Math.max(0, Math.min(pollMs, untilRefresh)), signal, changed))) return;
  }
}

/** Waits `ms`, or less if `changed` fires; false when `signal` aborted. */
async function wake(
  ms: number,
  signal: AbortSignal,
  changed: ChatOptions["changed"],
): Promise<boolean> {
  if (!changed || signal.aborted) return await sleep(ms, signal);
  const round = new AbortController();
  const stop = () => round.abort();
  signal.addEventListener("abort", stop, { once: true });
  try {
    await Promise.race([sleep(ms, round.signal), changed.wait(round.signal)]);
  } finally {
    round.abort(); // releases whichever wait is still pending
    signal.removeEventListener("abort", stop);
  }
  return !signal.aborted;
}
