// One panel's feed: its hub topic, its handlers per event type, and its indicator in the header.
// Every feed rides on the dashboard's one stream (stream.js): a feed adds no connection.
//
// States shown: the stream's ("connecting", "live", "reconnecting", "replaying", "closed"), plus
// "done" (a finite feed sent its final event) and "idle" (not started).

import { parseData } from "./dom.js";
import { stream } from "./stream.js";

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
 * A feed on the dashboard's stream. `topic` is its hub topic (`clock`, `games/demo`, …);
 * `handlers` maps SSE event types to functions receiving the parsed JSON data (events whose data
 * is not a JSON object are ignored). Options: `finalType`, the event type after which the feed is
 * complete (it shows "done"); `accepts`, which events' data belong to this feed (event types are
 * shared by every feed of a kind, e.g. every game); `onReset`, called when the hub lost the events
 * missed while disconnected and replays all it has (forget what was drawn from the old ones).
 */
export class Feed {
  constructor(name, topic, handlers, options = {}) {
    this.name = name;
    this.topic = topic;
    this.handlers = handlers;
    this.finalType = options.finalType ?? null;
    this.accepts = options.accepts ?? (() => true);
    this.onReset = options.onReset ?? null;
    this.lastEventId = "";
    this.done = false;
    this.closed = false;
    /** Whether the stream's connection carries this feed's topic yet (set by the stream). */
    this.joined = false;
    stream.add(this);
  }

  /** Leaves the stream and shows `state` (default "closed"). */
  close(state = "closed") {
    this.closed = true;
    stream.remove(this);
    this.setState(state);
  }

  /** Shows the stream's state (a finished or closed feed keeps its own). */
  follow() {
    if (this.done || this.closed) return;
    this.setState(this.joined ? stream.state : "connecting");
  }

  /**
   * Draws the newest event from before the stream opened (`GET /feeds/latest`), unless the stream
   * already delivered one.
   */
  deliverLatest(event) {
    if (!this.lastEventId) this.deliver(event.type, event);
  }

  /** Hands an event of `type` to this feed's handler, if it has one and the data is its own. */
  deliver(type, event) {
    const handler = this.handlers[type];
    if (!handler || this.done || this.closed) return;
    if (event.id && event.id === this.lastEventId) return; // drawn from /feeds/latest already
    const data = parseData(event);
    if (!data || !this.accepts(data)) return;
    if (event.id) this.lastEventId = event.id;
    try {
      handler(data);
    } catch (error) {
      console.warn(`dashboard: ${this.name} ${type} event not shown:`, error);
    }
    if (type === this.finalType) {
      this.done = true;
      this.setState("done");
    }
  }

  /** The hub lost history: forget what was drawn, the replay draws it again. */
  reset() {
    if (!this.onReset) return;
    try {
      this.onReset();
    } catch (error) {
      console.warn(`dashboard: ${this.name} reset not handled:`, error);
    }
  }

  setState(state) {
    this.state = state;
    const resume = this.lastEventId ? `last event ${this.lastEventId}` : "";
    const detail = ["reconnecting", "closed"].includes(state) && stream.problem
      ? [stream.problem, resume].filter(Boolean).join("; ")
      : resume;
    showFeedState(this.name, state, detail);
  }
}
