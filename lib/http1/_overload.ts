/**
 * Refusing a connection the listener has no room for, as cheaply as possible: no request is
 * parsed, one small fixed 503 (with `Retry-After`) is written, the write side is shut, and what the
 * client already sent is drained for at most {@link DRAIN_MS} (closing a socket with unread bytes
 * would reset it and could destroy the 503 before the client reads it); then the socket closes.
 * At most {@link MAX_DRAINING} refused sockets drain at once; past that a refused socket is closed
 * without a word, so refusals never hold more than a few descriptors.
 *
 * @module
 */

import { latin1Bytes } from "./_head.ts";

/** How long a refused socket may wait for the client's bytes before it closes. */
export const DRAIN_MS = 250;
/** Refused sockets draining at once, at most. */
export const MAX_DRAINING = 64;

let draining = 0;

/** What a refusal says. */
export interface SocketRefusal {
  /** The body text (one line). */
  reason: string;
  retryAfterSeconds: number;
}

/**
 * The bytes of a refusal: a complete HTTP/1.1 503 response with `connection: close`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { overloadResponse } from "./_overload.ts";
 * const text = new TextDecoder().decode(overloadResponse({ reason: "full", retryAfterSeconds: 5 }));
 * assert.ok(text.startsWith("HTTP/1.1 503 Service Unavailable\r\n"));
 * assert.ok(text.includes("\r\nretry-after: 5\r\n") && text.endsWith("\r\n\r\nfull\n"));
 * ```
 */
export function overloadResponse(refusal: SocketRefusal): Uint8Array {
  const body = `${refusal.reason}\n`;
  return latin1Bytes(
    "HTTP/1.1 503 Service Unavailable\r\n" +
      `retry-after: ${refusal.retryAfterSeconds}\r\n` +
      `x-tidings-refusal: ${refusal.reason}\r\n` +
      "content-type: text/plain; charset=utf-8\r\n" +
      `content-length: ${body.length}\r\n` +
      "connection: close\r\n\r\n" + body,
  );
}

/**
 * Refuses `conn` (see the module): never throws, never waits for the caller.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseSocket } from "./_overload.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * refuseSocket(await listener.accept(), { reason: "full", retryAfterSeconds: 5 });
 * const text = await new Response(client.readable).text();
 * assert.ok(text.startsWith("HTTP/1.1 503 ") && text.endsWith("full\n"));
 * listener.close();
 * ```
 */
export function refuseSocket(conn: Deno.TcpConn, refusal: SocketRefusal): void {
  if (draining >= MAX_DRAINING) {
    close(conn);
    return;
  }
  draining++;
  const timer = setTimeout(() => close(conn), DRAIN_MS);
  drain(conn, overloadResponse(refusal)).finally(() => {
    clearTimeout(timer);
    close(conn);
    draining--;
  });
}

async function drain(conn: Deno.TcpConn, response: Uint8Array): Promise<void> {
  try {
    // One small write: it fits the socket's send buffer, so it does not wait for the client.
    await conn.write(response);
    await conn.closeWrite();
    const sink = new Uint8Array(4096);
    while ((await conn.read(sink)) !== null);
  } catch { /* the client left, or the timer closed the socket */ }
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}
