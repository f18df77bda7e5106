// The dashboard's one connection: every panel's hub topic rides on a single Mercure subscription
// (`/.well-known/mercure?topic=clock&topic=stocks&…`) through the tidings client library.
//
// Why one: over HTTP/1.1 a browser opens at most six connections per origin, shared by every tab.
// A page holding one stream per panel would starve the rest of the origin (a second tab, a
// `fetch` POST). When the set of topics changes (an order placed, a new game, a chat name), the
// subscription switches to a new single stream that resumes after the last event received, so
// nothing is lost or shown twice, and two streams are never open at once. A live subscription
// starts with the events published from then on, so once a feed's topic is on the stream its
// newest earlier event is read once from `GET /feeds/latest` (a short request, not a stream).
//
// Stream states shown on every indicator: "connecting" (first attempt), "live" (open),
// "reconnecting" (the connection dropped or an attempt failed; the client retries with backoff),
// "replaying" (reopened; the missed events are arriving), "closed" (refused for good).

import { subscribe } from "/client.js";

const HUB = "/.well-known/mercure";
/**
 * After a reconnect, the stream counts as "replaying" until events pause for REPLAY_QUIET_MS (the
 * missed events arrive in one burst), or at most REPLAY_MAX_MS (a fast feed never pauses).
 */
const REPLAY_QUIET_MS = 400;
const REPLAY_MAX_MS = 2000;
/** The longest wait between two attempts: a restarted server is back on the page within it. */
const MAX_RETRY_MS = 15_000;

/**
 * The one subscription behind every {@link Feed} (see feed.js). Feeds join and leave; changes made
 * in one turn of the event loop become one switch.
 */
class DashboardStream {
  /** @type {Set<import("./feed.js").Feed>} */
  #feeds = new Set();
  /** Event types with a listener on the current subscription. */
  #listening = new Set();
  #subscription = null;
  #user = null;
  #syncPending = false;
  #state = "connecting";
  #problem = "";
  #quietTimer = 0;
  #replayDeadline = 0;

  /** The stream's state, as shown on the indicators of the feeds riding on it. */
  get state() {
    return this.#state;
  }

  /** Why the stream is reconnecting or closed, if known. */
  get problem() {
    return this.#problem;
  }

  /** The id of the last event received: where the next connection resumes. */
  get lastEventId() {
    return this.#subscription?.lastEventId ?? "";
  }

  /** Adds a feed's topic to the stream (the feed shows "connecting" until its topic is on it). */
  add(feed) {
    this.#feeds.add(feed);
    feed.joined = false;
    feed.follow();
    this.#syncSoon();
  }

  /** Removes a feed's topic from the stream. */
  remove(feed) {
    if (this.#feeds.delete(feed)) this.#syncSoon();
  }

  /** Names the chat user: the hub counts this page's subscription as present in the chat room. */
  setUser(name) {
    this.#user = name;
    this.#syncSoon();
  }

  #syncSoon() {
    if (this.#syncPending) return;
    this.#syncPending = true;
    queueMicrotask(() => {
      this.#syncPending = false;
      this.#sync();
    });
  }

  /** Opens the subscription, or switches it to the current topics and user. */
  #sync() {
    const topics = [...new Set([...this.#feeds].map((feed) => feed.topic))].sort();
    const hubUrl = this.#user ? `${HUB}?user=${encodeURIComponent(this.#user)}` : HUB;
    const joining = [...this.#feeds].filter((feed) => !feed.joined);
    if (topics.length === 0) return;
    if (!this.#subscription) {
      this.#open(hubUrl, topics);
      for (const feed of joining) feed.joined = true;
    } else {
      this.#listen();
      void this.#subscription.switchTopics(topics, { hubUrl }).then(() => {
        for (const feed of joining) {
          feed.joined = true;
          feed.follow();
        }
        void this.#drawLatest(joining);
      });
    }
  }

  #open(hubUrl, topics) {
    // The dashboard speaks SSE only (the WebSocket transport is for proxies that break streams).
    const subscription = subscribe(hubUrl, { topics, transport: "sse", maxDelayMs: MAX_RETRY_MS });
    this.#subscription = subscription;
    this.#listening = new Set();
    this.#state = "connecting";
    const current = () => subscription === this.#subscription;
    subscription.addEventListener("statechange", (event) => {
      if (current()) this.#follow(subscription, event.detail.previous);
    });
    subscription.addEventListener("error", (event) => {
      if (!current()) return;
      this.#problem = event.detail?.message ?? "";
      if (this.#state === "reconnecting") this.#show("reconnecting"); // the titles say why
    });
    subscription.addEventListener("reset", () => {
      if (!current()) return;
      for (const feed of this.#feeds) feed.reset();
    });
    this.#listen();
    this.#show("connecting");
  }

  /** Listens to every event type a feed handles (once per type). */
  #listen() {
    const subscription = this.#subscription;
    for (const feed of this.#feeds) {
      for (const type of Object.keys(feed.handlers)) {
        if (this.#listening.has(type)) continue;
        this.#listening.add(type);
        subscription.on(type, (event) => {
          if (subscription !== this.#subscription) return;
          if (this.#state === "replaying") this.#settleSoon();
          for (const feed of [...this.#feeds]) feed.deliver(type, event);
        });
      }
    }
  }

  /** Mirrors the subscription's state on the feeds. */
  #follow(subscription, previous) {
    switch (subscription.state) {
      case "open":
        this.#problem = "";
        if (previous === "reconnecting") {
          this.#replayDeadline = Date.now() + REPLAY_MAX_MS;
          this.#show("replaying");
          this.#settleSoon();
        } else {
          this.#show("live");
          if (previous === "connecting") void this.#drawLatest([...this.#feeds]);
        }
        break;
      case "reconnecting":
        clearTimeout(this.#quietTimer);
        this.#show("reconnecting");
        break;
      case "closed":
        // Refused for good (a 4xx): a later change of topics opens a new subscription.
        this.#subscription = null;
        clearTimeout(this.#quietTimer);
        if (subscription.error) this.#problem = subscription.error.message;
        for (const feed of this.#feeds) feed.joined = false;
        this.#show("closed");
        break;
    }
  }

  /** Draws each feed's newest event from before its topic joined the stream, if it has none yet. */
  async #drawLatest(feeds) {
    const waiting = feeds.filter((feed) => !feed.lastEventId && !feed.closed);
    if (waiting.length === 0) return;
    const query = new URLSearchParams();
    for (const topic of new Set(waiting.map((feed) => feed.topic))) query.append("topic", topic);
    let events;
    try {
      const response = await fetch(`/feeds/latest?${query}`);
      if (!response.ok) return;
      events = await response.json();
    } catch {
      return; // the stream brings the next events anyway
    }
    if (!Array.isArray(events)) return;
    for (const event of events) {
      if (typeof event?.id !== "string" || typeof event.data !== "string") continue;
      for (const feed of waiting) {
        if (feed.topic === event.topic && this.#feeds.has(feed)) feed.deliverLatest(event);
      }
    }
  }

  #show(state) {
    this.#state = state;
    for (const feed of this.#feeds) feed.follow();
  }

  #settleSoon() {
    clearTimeout(this.#quietTimer);
    const wait = Math.max(0, Math.min(REPLAY_QUIET_MS, this.#replayDeadline - Date.now()));
    this.#quietTimer = setTimeout(() => {
      if (this.#state === "replaying") this.#show("live");
    }, wait);
  }
}

/** The dashboard's one stream. */
export const stream = new DashboardStream();
