/**
 * A raw HTTP/1.1 client over `Deno.connect` for tests that must see the wire: request lines
 * longer than `fetch` allows, `Content-Encoding` left undecoded, chunks as the server flushed them.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * The status line and headers of a raw response, and its body (de-chunked, not decoded).
 *
 * @example
 * ```ts
 * import { type RawResponse, rawRequest } from "./raw_http.ts";
 * const response: RawResponse = await rawRequest(8000, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
 * console.log(response.status, response.headers.get("content-encoding"));
 * response.close();
 * ```
 */
export interface RawResponse {
  status: number;
  headers: Headers;
  /** The body bytes as the server framed them (chunked framing removed, content coding kept). */
  body: ReadableStream<Uint8Array>;
  /** Closes the connection. */
  close(): void;
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** Removes chunked transfer framing, passing each chunk's data on as soon as it is complete. */
function dechunk(): TransformStream<Uint8Array, Uint8Array> {
  let buffer: Uint8Array = new Uint8Array(0);
  let remaining = -1; // -1: expecting a size line; >= 0: data bytes left in the current chunk
  let finished = false;
  return new TransformStream({
    transform(piece, controller) {
      buffer = join(buffer, piece);
      while (!finished) {
        if (remaining < 0) {
          const lineEnd = buffer.findIndex((byte, i) => byte === 13 && buffer[i + 1] === 10);
          if (lineEnd < 0) return;
          const size = parseInt(new TextDecoder().decode(buffer.subarray(0, lineEnd)), 16);
          buffer = buffer.subarray(lineEnd + 2);
          if (size === 0) {
            finished = true;
            controller.terminate();
            return;
          }
          remaining = size;
        }
        if (buffer.length < remaining + 2) {
          if (buffer.length > 0 && buffer.length <= remaining) {
            controller.enqueue(buffer.slice());
            remaining -= buffer.length;
            buffer = new Uint8Array(0);
          }
          return;
        }
        if (remaining > 0) controller.enqueue(buffer.slice(0, remaining));
        buffer = buffer.subarray(remaining + 2);
        remaining = -1;
      }
    },
  });
}

/**
 * Reads a response (head, then a streaming body) from a connection the request was written to.
 * Closing the response closes the connection.
 *
 * @throws when the server drops the connection before a full response head.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readResponse } from "./raw_http.ts";
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 8000 });
 * await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
 * const response = await readResponse(conn);
 * assert.ok(response.status === 200);
 * response.close();
 * ```
 */
export async function readResponse(conn: Deno.Conn): Promise<RawResponse> {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  try {
    let received: Uint8Array = new Uint8Array(0);
    const buffer = new Uint8Array(65536);
    let headEnd = -1;
    while ((headEnd = indexOfHeadEnd(received)) < 0) {
      const count = await conn.read(buffer);
      if (count === null) throw new Error("connection closed before a response head");
      received = join(received, buffer.subarray(0, count));
    }
    const lines = new TextDecoder().decode(received.subarray(0, headEnd)).split("\r\n");
    const status = Number(lines[0].split(" ")[1]);
    const headers = new Headers();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const leftover = received.slice(headEnd + 4);
    const raw = new ReadableStream<Uint8Array>({
      start(controller) {
        if (leftover.length > 0) controller.enqueue(leftover);
      },
      async pull(controller) {
        try {
          const count = closed ? null : await conn.read(buffer);
          if (count === null) {
            controller.close();
            close();
          } else controller.enqueue(buffer.slice(0, count));
        } catch (error) {
          if (closed) controller.close();
          else controller.error(error);
          close();
        }
      },
      cancel: close,
    });
    const chunked = headers.get("transfer-encoding")?.toLowerCase().includes("chunked");
    return { status, headers, body: chunked ? raw.pipeThrough(dechunk()) : raw, close };
  } catch (error) {
    close();
    throw error;
  }
}

/**
 * Sends `head` (a full request head, CRLFs included, plus any body) on a new connection and reads
 * the response with {@link readResponse}.
 *
 * @throws when the server drops the connection before a full response head.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rawRequest } from "./raw_http.ts";
 * const response = await rawRequest(8000, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
 * assert.ok(response.status === 200);
 * response.close();
 * ```
 */
export async function rawRequest(port: number, head: string | Uint8Array): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = typeof head === "string" ? encoder.encode(head) : head;
    for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
  } catch (error) {
    conn.close();
    throw error;
  }
  return await readResponse(conn);
}

/**
 * Sends a request and reads the whole response body as text (the connection is closed after).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rawExchange } from "./raw_http.ts";
 * const { status, text } = await rawExchange(8000, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
 * assert.ok(status === 200 && text === "ok\n");
 * ```
 */
export async function rawExchange(
  port: number,
  head: string,
): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await rawRequest(port, head);
  try {
    const text = await new Response(response.body).text();
    return { status: response.status, headers: response.headers, text };
  } finally {
    response.close();
  }
}
