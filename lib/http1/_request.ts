/**
 * Reading one request on an HTTP/1.1 connection: its head (parsed), its URL, its body (fixed
 * length or chunked, after a `100 Continue` when the client waits for one), and the `Request`
 * built from them, whose abort signal is made only when read. Problems come back as an
 * {@link Http1Refusal} for the connection to answer.
 *
 * @module
 */

import { ChunkedDecoder } from "./_chunked.ts";
import { Http1Refusal, latin1Bytes, parseRequestHead, type RequestHead } from "./_head.ts";
import type { SocketReader } from "./_reader.ts";
import { isValidHost } from "../util/request_host.ts";
import { writeAll, type WriteTarget } from "./_response.ts";

const CONTINUE = latin1Bytes("HTTP/1.1 100 Continue\r\n\r\n");

/**
 * Waits for the next request head and parses it: the head, null when the client left, or a
 * refusal (431 when it is too large, 400 when it is malformed). `onFirstByte` is called once the
 * head has begun.
 */
export async function readRequestHead(
  reader: SocketReader,
  maxHeaders: number,
  onFirstByte: () => void,
): Promise<RequestHead | Http1Refusal | null> {
  const bytes = await reader.nextHead(onFirstByte);
  if (bytes === null || bytes instanceof Http1Refusal) return bytes;
  try {
    return parseRequestHead(bytes, maxHeaders);
  } catch (error) {
    if (error instanceof Http1Refusal) return error;
    throw error;
  }
}

/** What reading a request needs of its connection. */
export interface RequestSource extends WriteTarget {
  /** The connection's read side, just past the head. */
  readonly reader: SocketReader;
  /** The listener: its name for HTTP/1.0 requests without `Host`, and the body size limit. */
  readonly server: { readonly authority: string; readonly maxBodyBytes: number };
}

/**
 * The request that `head` begins, with its body read (fixed length or chunked; `100 Continue`
 * first when the client waits for it): null when the client left or the connection moved on, or a
 * refusal (400 for a bad target, `Host`, framing or field, 413 for a body past `maxBodyBytes`).
 */
export async function readRequest(
  source: RequestSource,
  head: RequestHead,
): Promise<Http1Request | Http1Refusal | null> {
  const { reader, server } = source;
  const url = requestUrl(head, server.authority);
  if (url instanceof Http1Refusal) return url;
  const length = head.contentLength;
  if (!head.chunked && length <= 0) return requestOrRefusal(url, head, null);
  if (length > server.maxBodyBytes) {
    return new Http1Refusal(413, `request body larger than ${server.maxBodyBytes} bytes`);
  }
  if (head.expectContinue && (head.chunked || reader.end - reader.start < length)) {
    if (!(await writeAll(source, CONTINUE))) return null;
  }
  if (!head.chunked) {
    const body = await reader.readExactly(length);
    return body === null ? null : requestOrRefusal(url, head, body);
  }
  const decoder = new ChunkedDecoder(server.maxBodyBytes, reader.maxHeadBytes);
  while (true) {
    try {
      reader.start += decoder.feed(reader.buf, reader.start, reader.end);
    } catch (error) {
      if (error instanceof Http1Refusal) return error;
      throw error;
    }
    if (decoder.done) return requestOrRefusal(url, head, decoder.body());
    if (!(await reader.fill())) return null;
  }
}

/** {@link buildRequest}, with what `Request` refuses as a 400. */
function requestOrRefusal(
  url: string,
  head: RequestHead,
  body: Uint8Array<ArrayBuffer> | null,
): Http1Request | Http1Refusal {
  try {
    return buildRequest(url, head, body);
  } catch (error) {
    return new Http1Refusal(400, `invalid request: ${(error as Error).message}`);
  }
}

/**
 * The absolute URL of a request: its target when absolute, else the `Host` header's (or, for
 * HTTP/1.0 without one, the server's `authority`) with the target's path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestUrl } from "./_request.ts";
 * import { Http1Refusal, parseRequestHead } from "./_head.ts";
 * const head = (wire: string) => parseRequestHead(new TextEncoder().encode(wire), 10);
 * assert.equal(requestUrl(head("GET /a HTTP/1.1\r\nHost: hub\r\n\r\n"), "127.0.0.1:8000"), "http://hub/a");
 * assert.deepEqual(
 *   requestUrl(head("GET * HTTP/1.1\r\nHost: hub\r\n\r\n"), "127.0.0.1:8000"),
 *   new Http1Refusal(400, "unsupported request target"),
 * );
 * ```
 */
export function requestUrl(head: RequestHead, authority: string): string | Http1Refusal {
  const { target } = head;
  if (/^https?:\/\//i.test(target)) return target;
  if (target[0] !== "/") return new Http1Refusal(400, "unsupported request target");
  if (head.host === null && head.minorVersion === 1) {
    return new Http1Refusal(400, "missing Host header");
  }
  if (!head.host) return `http://${authority}${target}`;
  if (!isValidHost(head.host)) return new Http1Refusal(400, "invalid Host header");
  return `http://${head.host}${target}`;
}

/**
 * The `Request` for a parsed head and its body; throws (a TypeError) on what `Request` refuses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildRequest } from "./_request.ts";
 * import { parseRequestHead } from "./_head.ts";
 * const head = parseRequestHead(new TextEncoder().encode("GET /a HTTP/1.1\r\nHost: hub\r\nX-A: 1\r\n\r\n"), 10);
 * assert.equal(buildRequest("http://hub/a", head, null).headers.get("x-a"), "1");
 * ```
 */
export function buildRequest(
  url: string,
  head: RequestHead,
  body: Uint8Array<ArrayBuffer> | null,
): Http1Request {
  const hasBody = head.method !== "GET" && head.method !== "HEAD";
  const request = new Http1Request(url, { method: head.method, body: hasBody ? body : null });
  const { headers } = request;
  for (let i = 0; i < head.fields.length; i += 2) {
    headers.append(head.fields[i], head.fields[i + 1]);
  }
  return request;
}

/**
 * A Request whose `signal` is only made when read: handing a signal to `new Request` costs more
 * than the rest of the request. Clones share the signal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Http1Request } from "./_request.ts";
 * const request = new Http1Request("http://hub/");
 * Http1Request.abort(request);
 * assert.equal(request.signal.aborted, true);
 * ```
 */
export class Http1Request extends Request {
  #controller: AbortController | null = null;
  #aborted = false;

  /**
   * Aborts when the client leaves before the response is written; made on first read.
   */
  override get signal(): AbortSignal {
    return Http1Request.controllerOf(this).signal;
  }

  /**
   * A copy of the request that shares its signal.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Http1Request } from "./_request.ts";
   * const request = new Http1Request("http://hub/");
   * assert.equal(request.clone().signal, request.signal);
   * ```
   */
  override clone(): Request {
    const copy = new Http1Request(super.clone());
    copy.#controller = Http1Request.controllerOf(this);
    return copy;
  }

  /**
   * The request's abort controller, made now if its signal was never read.
   */
  static controllerOf(request: Http1Request): AbortController {
    if (request.#controller === null) {
      request.#controller = new AbortController();
      if (request.#aborted) request.#controller.abort();
    }
    return request.#controller;
  }

  /**
   * The request's abort controller if its signal was ever read, else null.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Http1Request } from "./_request.ts";
   * const request = new Http1Request("http://hub/");
   * assert.equal(Http1Request.controllerIfMade(request), null);
   * request.signal;
   * assert.notEqual(Http1Request.controllerIfMade(request), null);
   * ```
   */
  static controllerIfMade(request: Http1Request): AbortController | null {
    return request.#controller;
  }

  /**
   * Aborts the request's signal, now or when it is first read.
   */
  static abort(request: Http1Request): void {
    if (request.#controller !== null) request.#controller.abort();
    else request.#aborted = true;
  }
}
