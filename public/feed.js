// One EventSource per feed, with its connection indicator in the header.
//
// States shown: "connecting" (first attempt), "live" (open), "reconnecting" (retrying after an
// error), "replaying" (reopened after an error; the missed events are arriving), "done" (a finite
// feed ended), "closed" (given up, or replaced), "idle" (not started).
//
// The browser retries a dropped connection by itself, but gives up for good on any answer that
// is not a 200 event stream (a 503 while the server restarts, say). Then we retry ourselves with
// a growing delay, resuming with ?lastEventID=, after checking with a plain request that the feed
// is back: a 204 means a finite feed has ended.

import { parseData } from "./dom.js";

/**
 * After a reconnect, the feed counts as "replaying" until events pause for REPLAY_QUIET_MS (the
 * missed events arrive in one burst), or at most REPLAY_MAX_MS (a fast feed never pauses).
 */
const REPLAY_QUIET_MS = 400;
const REPLAY_MAX_MS = 2000;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 15_000;

const LABELS = {
  idle: "idle",
  connecting: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  replaying: "replaying",
  done: "done",
  closed: "closed",
};

/** Shows a state on the header indicator `[data-feed=name]`. */
export function showFeedState(name, state, detail = "") {
  const indicator = document.querySelector(`.feed[data-feed="${name}"]`);
  if (!indicator) return;
  indicator.dataset.state = state;
  const label = indicator.querySelector(".feed-state");
  if (label) label.textContent = LABELS[state] ?? state;
  indicator.title = detail ? `${name}: ${LABELS[state] ?? state} — ${detail}` : `${name}: ${state}`;
}

/** Asks for the feed without EventSource: its HTTP status, or 0 when unreachable. */
async function probe(url) {
  const controller = new AbortController();
  try {
    const response = await fetch(url, {
      signal: controller.signal,
      headers: { accept: "text/event-stream" },
      cache: "no-store",
    });
    return response.status;
  } catch {
    return 0;
  } finally {
    controller.abort();
  }
}

/**
 * A feed connection. `handlers` maps SSE event types to functions receiving the parsed JSON data
 * (events whose data is not a JSON object are ignored). `finalType`, when given, is the event
 * type after which the feed is complete: the connection is closed and shows "done".
 */
export class Feed {
  constructor(name, url, handlers, options = {}) {
    this.name = name;
    this.handlers = handlers;
    this.finalType = options.finalType ?? null;
    this.source = null;
    this.url = url;
    this.lastEventId = "";
    this.hadError = false;
    this.attempts = 0;
    this.quietTimer = 0;
    this.retryTimer = 0;
    this.generation = 0;
    this.replayDeadline = 0;
    this.state = "idle";
    this.open(url);
  }

  /** (Re)connects to `url` from scratch, dropping any previous connection. */
  open(url) {
    this.close("connecting");
    this.url = url;
    this.lastEventId = "";
    this.hadError = false;
    this.attempts = 0;
    this.connect(url);
  }

  /** Closes the connection and shows `state` (default "closed"). */
  close(state = "closed") {
    this.generation++;
    clearTimeout(this.quietTimer);
    clearTimeout(this.retryTimer);
    if (this.source) this.source.close();
    this.source = null;
    this.setState(state);
  }

  connect(url) {
    const source = new EventSource(url);
    this.source = source;
    const current = () => source === this.source;
    source.addEventListener("open", () => {
      if (!current()) return;
      this.attempts = 0;
      if (this.hadError) {
        this.setState("replaying");
        this.replayDeadline = Date.now() + REPLAY_MAX_MS;
        this.settleSoon();
      } else {
        this.setState("live");
      }
    });
    source.addEventListener("error", () => {
      if (!current()) return;
      this.hadError = true;
      clearTimeout(this.quietTimer);
      if (source.readyState === EventSource.CLOSED) this.retryLater();
      else this.setState("reconnecting");
    });
    for (const [type, handler] of Object.entries(this.handlers)) {
      source.addEventListener(type, (event) => {
        if (!current()) return;
        if (event.lastEventId) this.lastEventId = event.lastEventId;
        if (this.state === "replaying") this.settleSoon();
        else if (this.state !== "live") this.setState("live");
        const data = parseData(event);
        if (data) {
          try {
            handler(data);
          } catch (error) {
            console.warn(`dashboard: ${this.name} ${type} event not shown:`, error);
          }
        }
        if (type === this.finalType) this.close("done");
      });
    }
  }

  /** The feed's URL resuming after the last event seen. */
  resumeUrl() {
    if (!this.lastEventId) return this.url;
    const url = new URL(this.url, location.href);
    url.searchParams.set("lastEventID", this.lastEventId);
    return url.pathname + url.search;
  }

  retryLater() {
    if (this.source) this.source.close();
    this.source = null;
    this.setState("reconnecting");
    const generation = this.generation;
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.attempts++);
    this.retryTimer = setTimeout(async () => {
      const url = this.resumeUrl();
      const status = await probe(url);
      if (generation !== this.generation) return;
      if (status === 200) this.connect(url);
      else if (status === 204) this.close("done");
      else if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        this.close("closed");
      } else this.retryLater();
    }, delay * (0.8 + Math.random() * 0.4));
  }

  setState(state) {
    this.state = state;
    showFeedState(this.name, state, this.lastEventId ? `last event ${this.lastEventId}` : "");
  }

  settleSoon() {
    clearTimeout(this.quietTimer);
    const wait = Math.max(0, Math.min(REPLAY_QUIET_MS, this.replayDeadline - Date.now()));
    this.quietTimer = setTimeout(() => {
      if (this.state === "replaying") this.setState("live");
    }, wait);
  }
}
