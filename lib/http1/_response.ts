/**
 * Writing on an HTTP/1.1 connection: a Response's status line and headers, then its body with
 * `content-length` when it is all there at once, or chunked (HTTP/1.0: until close) when it keeps
 * coming; the head of a response whose taker writes the body; the server's own refusals and 500.
 * `http1_connection.ts` decides keep-alive and take-over, and calls these for the bytes.
 *
 * @module
 */

import {
  type Http1Refusal,
  latin1Bytes,
  type RequestHead,
  responseHead,
  STATUS_TEXT,
} from "./_head.ts";
import { log } from "../util/logger.ts";

/** What writing needs of a connection. */
export interface WriteTarget {
  /** The socket written to. */
  readonly conn: { write(bytes: Uint8Array): Promise<number> };
  /** Called when a write fails: the peer has left. */
  lost(): void;
  /** Called with true before {@link writeAll} starts writing, with false once it is done. */
  writing?(active: boolean): void;
}

/** Where a response is written: the connection, as far as writing a response needs it. */
export interface ResponseTarget extends WriteTarget {
  /** Whether the peer has left. */
  readonly gone: boolean;
  /** The body being read, so that the connection can cancel it when the peer leaves. */
  bodyReader: ReadableStreamDefaultReader<unknown> | null;
}

const PENDING = Symbol("pending");
const LAST_CHUNK = latin1Bytes("0\r\n\r\n");
const DIGITS = /^\d{1,15}$/;

function noop(): void {}
/** Settles after a few microtask turns: long enough for a body that is already complete. */
function soon(): Promise<typeof PENDING> {
  return Promise.resolve().then(noop).then(noop).then(noop).then(() => PENDING);
}

/**
 * An error as one log field: its stack when it has one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorText } from "./_response.ts";
 * assert.equal(errorText("plain"), "plain");
 * assert.match(errorText(new Error("boom")), /^Error: boom\n\s+at /);
 * ```
 */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.stack ?? error.message : String(error);
}

/**
 * Writes all of `bytes` to `target.conn`; false, after calling `target.lost()`, when the peer is
 * gone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAll } from "./_response.ts";
 * const sizes: number[] = [];
 * const write = (bytes: Uint8Array) => {
 *   sizes.push(Math.min(bytes.length, 2)); // a socket that takes two bytes at a time
 *   return Promise.resolve(sizes.at(-1)!);
 * };
 * assert.equal(await writeAll({ conn: { write }, lost() {} }, new Uint8Array(5)), true);
 * assert.deepEqual(sizes, [2, 2, 1]);
 * ```
 */
export async function writeAll(target: WriteTarget, bytes: Uint8Array): Promise<boolean> {
  target.writing?.(true);
  try {
    for (let offset = 0; offset < bytes.length;) {
      offset += await target.conn.write(offset === 0 ? bytes : bytes.subarray(offset));
    }
    return true;
  } catch {
    target.lost();
    return false;
  } finally {
    target.writing?.(false);
  }
}

/**
 * Writes `response` as the answer to `head`; resolves true when the connection may be kept alive
 * (`keepAlive` says whether it may be as far as the request and the server go). A body that fails
 * before anything was written becomes a 500; one that fails later ends the connection without the
 * last chunk, so the client can tell the body is incomplete.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeResponse } from "./_response.ts";
 * import { parseRequestHead } from "./_head.ts";
 * const written: string[] = [];
 * const write = (bytes: Uint8Array) => {
 *   written.push(new TextDecoder().decode(bytes));
 *   return Promise.resolve(bytes.length);
 * };
 * const target = { conn: { write }, lost() {}, gone: false, bodyReader: null };
 * const head = parseRequestHead(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 100);
 * assert.equal(await writeResponse(target, new Response("hi"), head, true), true);
 * assert.equal(
 *   written.join(""),
 *   "HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=UTF-8\r\ncontent-length: 2\r\n\r\nhi",
 * );
 * ```
 */
export async function writeResponse(
  target: ResponseTarget,
  response: Response,
  head: RequestHead,
  keepAlive: boolean,
): Promise<boolean> {
  const { status } = response;
  const framing: string[] = [];
  let payload: Uint8Array | null = null;
  let next: Promise<ReadableStreamReadResult<unknown>> | null = null;
  const bodyless = head.method === "HEAD" || status < 200 || status === 204 || status === 304;
  if (bodyless) {
    response.body?.cancel().catch(noop);
    const declared = response.headers.get("content-length");
    if (status >= 200 && status !== 204 && declared !== null && DIGITS.test(declared)) {
      framing.push(`content-length: ${declared}`);
    } else if (status >= 200 && status !== 204 && status !== 304 && response.body === null) {
      framing.push("content-length: 0");
    }
  } else if (response.body !== null) {
    try {
      const reader = response.body.getReader();
      target.bodyReader = reader;
      const first = await reader.read();
      if (!first.done) {
        payload = toBytes(first.value);
        const second = reader.read();
        const settled = await Promise.race([second, soon()]);
        if (settled === PENDING || !settled.done) next = second;
      }
    } catch (error) {
      log("error", "request failed", { error: errorText(error) });
      if (target.gone) return false;
      return writeResponse(target, internalError(), head, keepAlive);
    }
  }
  if (next !== null) {
    if (head.minorVersion === 1) framing.push("transfer-encoding: chunked");
    else keepAlive = false;
  } else if (!bodyless) {
    framing.push(`content-length: ${payload?.length ?? 0}`);
  }
  const chunked = next !== null && head.minorVersion === 1;
  if (!keepAlive) framing.push("connection: close");
  else if (head.minorVersion === 0) framing.push("connection: keep-alive");
  const reason = response.statusText || STATUS_TEXT[status] || "";
  const text = responseHead(status, reason, response.headers, framing);
  if (!(await writeAll(target, withBody(text, payload, chunked)))) return false;
  if (next === null) return keepAlive;
  try {
    while (true) {
      const result = await next;
      if (target.gone) return false;
      if (result.done) break;
      const bytes = toBytes(result.value);
      if (bytes.length > 0 && !(await writeAll(target, withBody("", bytes, chunked)))) return false;
      next = target.bodyReader!.read();
    }
  } catch (error) {
    log("error", "response body failed", { error: errorText(error) });
    target.bodyReader?.cancel(error).catch(noop);
    return false;
  }
  if (chunked && !(await writeAll(target, LAST_CHUNK))) return false;
  return keepAlive;
}

/**
 * The status line and headers of a response whose body its taker writes, with
 * `connection: close` and no framing: the body runs until the connection closes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { takenResponseHead } from "./_response.ts";
 * const response = new Response(null, { headers: { "content-type": "text/event-stream" } });
 * assert.equal(
 *   new TextDecoder().decode(takenResponseHead(response)),
 *   "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
 * );
 * ```
 */
export function takenResponseHead(response: Response): Uint8Array {
  const reason = response.statusText || STATUS_TEXT[response.status] || "";
  return latin1Bytes(
    responseHead(response.status, reason, response.headers, ["connection: close"]),
  );
}

/**
 * Writes `refusal` (its status, and its message as a plain-text body, then the connection closes)
 * and half-closes the connection so that the client reads all of it; false when either failed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeRefusal } from "./_response.ts";
 * import { Http1Refusal } from "./_head.ts";
 * let text = "";
 * const write = (bytes: Uint8Array) => {
 *   text += new TextDecoder().decode(bytes);
 *   return Promise.resolve(bytes.length);
 * };
 * const conn = { write, closeWrite: () => Promise.resolve() };
 * assert.equal(await writeRefusal({ conn, lost() {} }, new Http1Refusal(413, "too big")), true);
 * assert.equal(
 *   text,
 *   "HTTP/1.1 413 Content Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n" +
 *     "content-length: 8\r\nconnection: close\r\n\r\ntoo big\n",
 * );
 * ```
 */
export async function writeRefusal(
  target: WriteTarget & { readonly conn: { closeWrite(): Promise<void> } },
  refusal: Http1Refusal,
): Promise<boolean> {
  const { status } = refusal;
  const body = new TextEncoder().encode(`${refusal.message}\n`);
  const head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ""}\r\n` +
    `content-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\n` +
    "connection: close\r\n\r\n";
  if (!(await writeAll(target, withBody(head, body, false)))) return false;
  try {
    await target.conn.closeWrite();
    return true;
  } catch {
    return false;
  }
}

/**
 * The answer to a handler that threw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { internalError } from "./_response.ts";
 * assert.equal(internalError().status, 500);
 * ```
 */
export function internalError(): Response {
  return new Response("internal error\n", {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * A response body chunk as bytes (strings are UTF-8 encoded; anything else is refused).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toBytes } from "./_response.ts";
 * assert.equal(toBytes("hé").length, 3);
 * ```
 */
export function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return new TextEncoder().encode(chunk);
  if (ArrayBuffer.isView(chunk)) {
    return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new TypeError("response body chunks must be bytes");
}

/**
 * Encodes a head (may be "") followed by `body`, framed as one chunk when `chunked`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withBody } from "./_response.ts";
 * const bytes = withBody("", new TextEncoder().encode("hi"), true);
 * assert.equal(new TextDecoder().decode(bytes), "2\r\nhi\r\n");
 * ```
 */
export function withBody(head: string, body: Uint8Array | null, chunked: boolean): Uint8Array {
  if (body === null || body.length === 0) return latin1Bytes(head);
  const size = chunked ? `${body.length.toString(16)}\r\n` : "";
  const bytes = latin1Bytes(head + size, body.length + (chunked ? 2 : 0));
  const at = head.length + size.length;
  bytes.set(body, at);
  if (chunked) bytes.set([13, 10], at + body.length);
  return bytes;
}
