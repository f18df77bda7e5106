/**
 * A test client for the hub's WebSocket transport: opens a socket (headers allowed, for cookie
 * authentication), collects its JSON frames, and lets a test wait for a number of update frames
 * with a bounded wait. Heartbeat and resumed frames are kept apart from update frames.
 *
 * @module
 */

/** One JSON frame as the hub sends it. */
export interface HubFrame {
  type: string;
  id?: string;
  data?: string;
  topic?: string;
  lastEventID?: string;
}

/** How a socket ended. */
export interface SocketEnd {
  code: number;
  reason: string;
  /** Whether the closing handshake completed (false: the connection dropped). */
  wasClean: boolean;
}

/** An open WebSocket subscription. */
export interface HubSocket {
  socket: WebSocket;
  /** Every frame, in arrival order. */
  frames: HubFrame[];
  /** Frames that carry an update (not `tidings:heartbeat` nor `tidings:resumed`). */
  updates(): HubFrame[];
  /** Resolves with the first `count` update frames; rejects with what arrived after the deadline. */
  waitFor(count: number, timeoutMs?: number): Promise<HubFrame[]>;
  /** Resolves once a frame matching `predicate` arrived; rejects after the deadline. */
  waitForFrame(predicate: (frame: HubFrame) => boolean, timeoutMs?: number): Promise<HubFrame>;
  /** Resolves when the socket closed, however it closed. */
  ended: Promise<SocketEnd>;
  close(): Promise<SocketEnd>;
}

const CONTROL_TYPES = new Set(["tidings:heartbeat", "tidings:resumed"]);

/**
 * Opens a WebSocket to `url` (`http:` is turned into `ws:`) and waits until it is open; rejects
 * when the upgrade is refused or does not finish within 10 s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openHubSocket } from "./ws_client.ts";
 * const server = Deno.serve({ port: 0, onListen() {} }, (request) => {
 *   const { socket, response } = Deno.upgradeWebSocket(request);
 *   socket.onopen = () => socket.send(JSON.stringify({ type: "message", id: "1", data: "x" }));
 *   return response;
 * });
 * const hub = await openHubSocket(`http://127.0.0.1:${server.addr.port}/`);
 * assert.deepEqual(await hub.waitFor(1), [{ type: "message", id: "1", data: "x" }]);
 * await hub.close();
 * await server.shutdown();
 * ```
 */
export async function openHubSocket(
  url: string,
  headers: Record<string, string> = {},
): Promise<HubSocket> {
  const socket = new WebSocket(url.replace(/^http/, "ws"), { headers });
  const frames: HubFrame[] = [];
  let wake = () => {};
  let closed = false;
  const ended = new Promise<SocketEnd>((resolve) => {
    socket.addEventListener("close", (event) => {
      closed = true;
      resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
      wake();
    });
  });
  socket.addEventListener("message", (event) => {
    frames.push(JSON.parse(String(event.data)));
    wake();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${url}: not open within 10 s`)), 10_000);
    socket.addEventListener("open", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.addEventListener("error", (event) => {
      clearTimeout(timer);
      reject(new Error(`${url}: ${(event as ErrorEvent).message ?? "upgrade failed"}`));
    });
  });
  const updates = () => frames.filter((frame) => !CONTROL_TYPES.has(frame.type));
  const waitUntil = async <T>(
    found: () => T | undefined,
    timeoutMs: number,
    describe: () => string,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = found();
      if (value !== undefined) return value;
      if (closed) throw new Error(`socket closed: ${describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out: ${describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  return {
    socket,
    frames,
    updates,
    waitFor: (count, timeoutMs = 10_000) =>
      waitUntil(
        () => updates().length >= count ? updates().slice(0, count) : undefined,
        timeoutMs,
        () => `${updates().length} of ${count} update frames from ${url}`,
      ),
    waitForFrame: (predicate, timeoutMs = 10_000) =>
      waitUntil(
        () => frames.find(predicate),
        timeoutMs,
        () => `no matching frame among ${JSON.stringify(frames)}`,
      ),
    ended,
    close: () => {
      if (!closed) socket.close();
      return ended;
    },
  };
}
