/**
 * The direct stream sink on real TCP connections: exact bytes in order, coalescing, the buffer
 * bound and its drain, and clean-up when the peer goes.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  directPushResponse,
  type DirectSocket,
  takeOverDirectStream,
} from "../lib/sse/direct.ts";
import type { SseSink } from "../lib/sse/response.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A connected pair on loopback: the server side (as a taken-over socket) and the client side. */
async function connectedPair(): Promise<
  {
    server: Deno.Conn;
    client: Deno.Conn;
    peerGone: AbortController;
    socket: DirectSocket;
    close(): void;
  }
> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  listener.close();
  const peerGone = new AbortController();
  // What the listener hands over: the connection, and a call when the peer leaves.
  const socket: DirectSocket = {
    conn: server,
    onGone(callback) {
      if (peerGone.signal.aborted) callback();
      else peerGone.signal.addEventListener("abort", callback, { once: true });
    },
  };
  return {
    server,
    client,
    peerGone,
    socket,
    close() {
      for (const conn of [client, server]) {
        try {
          conn.close();
        } catch {
          // closed already
        }
      }
    },
  };
}

/** Reads from `conn` until `bytes` bytes arrived or the connection ends. */
async function readBytes(conn: Deno.Conn, bytes: number): Promise<Uint8Array> {
  const out = new Uint8Array(bytes);
  let filled = 0;
  while (filled < bytes) {
    const n = await conn.read(out.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return out.subarray(0, filled);
}

async function readToEnd(conn: Deno.Conn): Promise<string> {
  const chunks: string[] = [];
  const buffer = new Uint8Array(65_536);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) return chunks.join("");
    chunks.push(decoder.decode(buffer.subarray(0, n)));
  }
}

function start(
  socket: DirectSocket,
  run: (sink: SseSink) => Promise<void>,
  options: Parameters<typeof directPushResponse>[1] = {},
): Response {
  const response = directPushResponse(run, { heartbeatMs: 0, ...options });
  const begin = takeOverDirectStream(response);
  assert.ok(begin, "a direct push response can be taken over");
  assert.equal(takeOverDirectStream(response), undefined, "only once");
  begin(socket);
  return response;
}

Deno.test("a direct stream writes the retry hint and every event in order, then closes", async () => {
  const pair = await connectedPair();
  try {
    const events = Array.from({ length: 500 }, (_, n) => `id: ${n}\ndata: event ${n}\n\n`);
    let closed = 0;
    const response = start(
      pair.socket,
      (sink) => {
        // Written in one go: all but the first queue behind the first write and are coalesced.
        for (const event of events) sink.write(encoder.encode(event));
        sink.close();
        return Promise.resolve();
      },
      { retryMs: 2500, onClose: () => closed++ },
    );
    assert.equal(response.headers.get("content-type"), "text/event-stream");
    assert.equal(await readToEnd(pair.client), "retry: 2500\n\n" + events.join(""));
    assert.equal(closed, 1);
  } finally {
    pair.close();
  }
});

Deno.test("a direct stream reports its bound and drains once the client reads", async () => {
  const pair = await connectedPair();
  try {
    const chunk = new Uint8Array(256 * 1024).fill(0x61);
    let written = 0;
    let stalled = false;
    let drained: boolean | undefined;
    start(pair.socket, async (sink) => {
      const signal = sink.signal;
      // The client reads nothing yet: once the kernel's buffers are full, the queue stays past
      // its bound and drained() stays pending.
      while (!stalled && written < 400) {
        written++;
        if (sink.write(chunk)) continue;
        const drain = sink.drained(signal);
        const timeout = new Promise<"stalled">((resolve) => setTimeout(resolve, 300, "stalled"));
        if ((await Promise.race([drain, timeout])) === "stalled") {
          stalled = true;
          drained = await drain;
        }
      }
      sink.write(encoder.encode("\n"));
      sink.close();
    }, { bufferBytes: 1024 * 1024 });
    while (!stalled && written < 400) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(stalled, true, "drained() waited while the client did not read");
    assert.equal(drained, undefined);
    const received = await readBytes(pair.client, written * chunk.byteLength + 1);
    assert.equal(received.byteLength, written * chunk.byteLength + 1);
    assert.equal(received.at(-1), 0x0a);
    assert.equal(drained, true);
  } finally {
    pair.close();
  }
});

Deno.test("a direct stream aborts its source and releases when the peer goes", async () => {
  const pair = await connectedPair();
  try {
    let sourceSignal: AbortSignal | undefined;
    let closed = 0;
    const ended = Promise.withResolvers<void>();
    start(pair.socket, (sink) => {
      const signal = sink.signal;
      sourceSignal = signal;
      sink.write(encoder.encode("data: hello\n\n"));
      return new Promise<void>((resolve) => {
        signal.addEventListener("abort", () => {
          resolve();
          ended.resolve();
        });
      });
    }, { onClose: () => closed++ });
    assert.equal(decoder.decode(await readBytes(pair.client, 13)), "data: hello\n\n");
    pair.peerGone.abort();
    await ended.promise;
    assert.equal(sourceSignal?.aborted, true);
    assert.equal(closed, 1);
    assert.equal(await pair.client.read(new Uint8Array(8)), null, "the server side was closed");
  } finally {
    pair.close();
  }
});

Deno.test("a direct stream sends a heartbeat comment only while it is idle", async () => {
  const pair = await connectedPair();
  try {
    const stop = new AbortController();
    start(pair.socket, (sink) => {
      sink.write(encoder.encode("data: first\n\n"));
      return new Promise<void>((resolve) => stop.signal.addEventListener("abort", () => resolve()));
    }, { heartbeatMs: 50, signal: stop.signal });
    // The event, then heartbeats (":\n\n", 3 bytes each) once the stream has been idle.
    const expected = "data: first\n\n:\n\n:\n\n";
    assert.equal(decoder.decode(await readBytes(pair.client, expected.length)), expected);
    stop.abort();
  } finally {
    pair.close();
  }
});
