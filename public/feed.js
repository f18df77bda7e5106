// One subscription per feed, through the tidings client library (/client.js), with its
// connection indicator in the header.
//
// States shown: "connecting" (first attempt), "live" (open), "reconnecting" (the connection
// dropped or an attempt failed; the client retries with backoff), "replaying" (reopened; the
// missed events are arriving), "done" (a finite feed ended: its final event, or the server's 204),
// "closed" (refused for good, or replaced), "idle" (not started).
//
// The client does the hard parts: it resumes after the last event with Last-Event-ID, backs off
// with jitter (following the server's retry: and Retry-After), stops for good on a 204 or a 4xx,
// and says when the server lost the history it was asked to resume after ("reset").

import { subscribe } from "/client.js";
import { parseData } from "./dom.js";

/**
 * After a reconnect, the feed counts as "replaying" until events pause for REPLAY_QUIET_MS (the
 * missed events arrive in one burst), or at most REPLAY_MAX_MS (a fast feed never pauses).
 */
const REPLAY_QUIET_MS = 400;
const REPLAY_MAX_MS = 2000;
/** The longest wait between two attempts: a restarted server is back on the page within it. */
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

/**
 * A feed connection. `handlers` maps SSE event types to functions receiving the parsed JSON data
 * (events whose data is not a JSON object are ignored). Options: `finalType`, the event type after
 * which the feed is complete (the connection is closed and shows "done"); `onReset`, called when
 * the server lost the events missed while disconnected and replays all it has (forget what was
 * drawn from the old ones).
 */
export class Feed {
  constructor(name, url, handlers, options = {}) {
    this.name = name;
    this.handlers = handlers;
    this.finalType = options.finalType ?? null;
    this.onReset = options.onReset ?? null;
    this.subscription = null;
    this.url = url;
    this.lastEventId = "";
    this.problem = "";
    this.quietTimer = 0;
    this.replayDeadline = 0;
    this.state = "idle";
    this.open(url);
  }

  /** (Re)connects to `url` from scratch, dropping any previous connection. */
  open(url) {
    this.close("connecting");
    this.url = url;
    this.lastEventId = "";
    this.problem = "";
    // The feeds speak SSE only (the WebSocket fallback lives at /.well-known/mercure).
    const subscription = subscribe(url, { topics: [], transport: "sse", maxDelayMs: MAX_RETRY_MS });
    this.subscription = subscription;
    const current = () => subscription === this.subscription;
    subscription.addEventListener("statechange", (event) => {
      if (current()) this.follow(subscription, event.detail.previous);
    });
    subscription.addEventListener("error", (event) => {
      if (!current()) return;
      this.problem = event.detail?.message ?? "";
      if (this.state === "reconnecting") this.setState("reconnecting"); // the title says why
    });
    subscription.addEventListener("reset", () => {
      if (!current() || !this.onReset) return;
      try {
        this.onReset();
      } catch (error) {
        console.warn(`dashboard: ${this.name} reset not handled:`, error);
      }
    });
    for (const [type, handler] of Object.entries(this.handlers)) {
      subscription.on(type, (event) => {
        if (!current()) return;
        if (event.id) this.lastEventId = event.id;
        if (this.state === "replaying") this.settleSoon();
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

  /** Closes the connection and shows `state` (default "closed"). */
  close(state = "closed") {
    const subscription = this.subscription;
    this.subscription = null;
    this.problem = "";
    clearTimeout(this.quietTimer);
    void subscription?.close();
    this.setState(state);
  }

  /** Mirrors the subscription's state on the indicator. */
  follow(subscription, previous) {
    switch (subscription.state) {
      case "open":
        this.problem = "";
        if (previous === "reconnecting") {
          this.setState("replaying");
          this.replayDeadline = Date.now() + REPLAY_MAX_MS;
          this.settleSoon();
        } else {
          this.setState("live");
        }
        break;
      case "reconnecting":
        clearTimeout(this.quietTimer);
        this.setState("reconnecting");
        break;
      case "closed":
        // Not closed by us: refused for good (an error), or a finite feed that ended (204).
        this.subscription = null;
        clearTimeout(this.quietTimer);
        if (subscription.error) this.problem = subscription.error.message;
        this.setState(subscription.error ? "closed" : "done");
        break;
    }
  }

  setState(state) {
    this.state = state;
    const resume = this.lastEventId ? `last event ${this.lastEventId}` : "";
    const detail = ["reconnecting", "closed"].includes(state) && this.problem
      ? [this.problem, resume].filter(Boolean).join("; ")
      : resume;
    showFeedState(this.name, state, detail);
  }

  settleSoon() {
    clearTimeout(this.quietTimer);
    const wait = Math.max(0, Math.min(REPLAY_QUIET_MS, this.replayDeadline - Date.now()));
    this.quietTimer = setTimeout(() => {
      if (this.state === "replaying") this.setState("live");
    }, wait);
  }
}
