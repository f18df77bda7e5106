/**
 * Writing one Response on an HTTP/1.1 connection: the status line and headers, then the body with
 * `content-length` when it is all there at once, or chunked (HTTP/1.0: until close) when it keeps
 * coming. `http1_connection.ts` decides keep-alive and take-over, and calls this for the rest.
 *
 * @module
 */

import { latin1Bytes, type RequestHead, responseHead, STATUS_TEXT } from "./http1_head.ts";
import { internalError, toBytes, withBody } from "./http1_request.ts";
import { log } from "./log.ts";

/** Where a response is written: the connection, as far as writing a response needs it. */
export interface ResponseTarget {
  /** Writes all of `bytes`; false when the peer is gone. */
  write(bytes: Uint8Array): Promise<boolean>;
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
 * import { errorText } from "./http1_response.ts";
 * console.assert(errorText("plain") === "plain");
 * ```
 */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.stack ?? error.message : String(error);
}

/**
 * Writes `response` as the answer to `head`; resolves true when the connection may be kept alive
 * (`keepAlive` says whether it may be as far as the request and the server go). A body that fails
 * before anything was written becomes a 500; one that fails later ends the connection without the
 * last chunk, so the client can tell the body is incomplete.
 *
 * @example
 * ```ts
 * import { writeResponse } from "./http1_response.ts";
 * import { parseRequestHead } from "./http1_head.ts";
 * const written: string[] = [];
 * const target = {
 *   gone: false,
 *   bodyReader: null,
 *   write: (bytes: Uint8Array) => (written.push(new TextDecoder().decode(bytes)), Promise.resolve(true)),
 * };
 * const head = parseRequestHead(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 100);
 * console.assert(await writeResponse(target, new Response("hi"), head, true));
 * console.assert(written.join("").endsWith("content-length: 2\r\n\r\nhi"));
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
  if (!(await target.write(withBody(text, payload, chunked)))) return false;
  if (next === null) return keepAlive;
  try {
    while (true) {
      const result = await next;
      if (target.gone) return false;
      if (result.done) break;
      const bytes = toBytes(result.value);
      if (bytes.length > 0 && !(await target.write(withBody("", bytes, chunked)))) return false;
      next = target.bodyReader!.read();
    }
  } catch (error) {
    log("error", "response body failed", { error: errorText(error) });
    target.bodyReader?.cancel(error).catch(noop);
    return false;
  }
  if (chunked && !(await target.write(LAST_CHUNK))) return false;
  return keepAlive;
}
