// @ts-check
/**
 * The WebSocket transport: tidings' fallback for networks whose proxies break event streams. One
 * JSON text frame per event (`{"id","type","data","topic"}`), plus control frames
 * (`tidings:resumed`, `tidings:heartbeat`).
 *
 * @module
 */

import { abortable, Connection, withTimeout } from "./abortable.js";
import { messageOf, SubscriptionError } from "./errors.js";
import { askForRefusal } from "./sse_transport.js";

/**
 * @typedef {import("./attempt.js").Attempt} Attempt
 * @typedef {import("./attempt.js").Outcome} Outcome
 */

/**
 * Runs one WebSocket connection until it closes, delivering its events; says how it ended. A
 * handshake that fails is explained by asking the same subscription over plain HTTP.
 *
 * @param {Attempt} attempt
 * @returns {Promise<Outcome>}
 */
export async function connectWebSocket(attempt) {
  const { signal } = attempt;
  /** @type {WebSocket} */
  let socket;
  try {
    socket = new WebSocket(attempt.url("websocket"));
  } catch (error) {
    return {
      kind: "fatal",
      error: new SubscriptionError(`cannot open a WebSocket: ${messageOf(error)}`),
    };
  }
  const connection = new Connection(signal);
  let opened = false;
  let cancelTimers = () => {};
  /** @type {Promise<CloseEvent>} */
  const closed = new Promise((resolve) => socket.onclose = resolve);
  socket.onerror = () => {}; // a close event follows
  socket.onopen = () => {
    opened = true;
    cancelTimers = attempt.opened(connection);
  };
  socket.onmessage = (message) => {
    if (!connection.signal.aborted) readFrame(message.data, attempt);
  };
  try {
    let event = await abortable(closed, connection.signal);
    if (event === undefined) {
      socket.close(1000, "client reconnecting or closing");
      event = await withTimeout(closed, 2_000);
    }
    if (connection.onPurpose) return { kind: "retry", opened, onPurpose: true };
    if (!opened && !signal.aborted) {
      // The handshake hides the status: ask over plain HTTP whether the hub refuses for good.
      const refusal = await askForRefusal(attempt);
      if (refusal && refusal.kind !== "retry") return refusal;
    }
    const detail = event ? `${event.code}${event.reason ? ` ${event.reason}` : ""}` : "no close";
    const message = opened ? `WebSocket closed (${detail})` : `WebSocket failed (${detail})`;
    return { kind: "retry", opened, error: new SubscriptionError(message) };
  } finally {
    cancelTimers();
    connection.release();
    socket.onopen = socket.onmessage = null;
  }
}

/**
 * Delivers one frame's event, or reports where the hub resumed; ignores anything else.
 *
 * @param {unknown} text
 * @param {Attempt} attempt
 */
function readFrame(text, attempt) {
  if (typeof text !== "string") return;
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    return;
  }
  if (typeof frame !== "object" || frame === null) return;
  if (frame.type === "tidings:resumed" && !("id" in frame)) {
    attempt.resumed(String(frame.lastEventID));
    return;
  }
  if (typeof frame.id !== "string" || typeof frame.data !== "string") return;
  const type = typeof frame.type === "string" && frame.type !== "" ? frame.type : "message";
  attempt.received(
    frame.id,
    type,
    frame.data,
    typeof frame.topic === "string" ? frame.topic : undefined,
  );
}
