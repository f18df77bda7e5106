/**
 * The request and response pieces of the HTTP/1.1 server: the `Request` built from a parsed head
 * (with an abort signal made only when read), and the byte helpers that frame a response body.
 *
 * @module
 */

import { Http1Refusal, latin1Bytes, type RequestHead } from "./http1_head.ts";

const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(:\d{0,5})?$/;

/**
 * The absolute URL of a request: its target when absolute, else the `Host` header's (or, for
 * HTTP/1.0 without one, the server's `authority`) with the target's path.
 *
 * @example
 * ```ts
 * import { requestUrl } from "./http1_request.ts";
 * import { parseRequestHead } from "./http1_head.ts";
 * const head = parseRequestHead(new TextEncoder().encode("GET /a HTTP/1.1\r\nHost: hub\r\n\r\n"), 10);
 * console.assert(requestUrl(head, "127.0.0.1:8000") === "http://hub/a");
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
  if (!HOST.test(head.host)) return new Http1Refusal(400, "invalid Host header");
  return `http://${head.host}${target}`;
}

/**
 * The `Request` for a parsed head and its body; throws (a TypeError) on what `Request` refuses.
 *
 * @example
 * ```ts
 * import { buildRequest } from "./http1_request.ts";
 * import { parseRequestHead } from "./http1_head.ts";
 * const head = parseRequestHead(new TextEncoder().encode("GET /a HTTP/1.1\r\nHost: hub\r\nX-A: 1\r\n\r\n"), 10);
 * console.assert(buildRequest("http://hub/a", head, null).headers.get("x-a") === "1");
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
 * import { Http1Request } from "./http1_request.ts";
 * const request = new Http1Request("http://hub/");
 * Http1Request.abort(request);
 * console.assert(request.signal.aborted);
 * ```
 */
export class Http1Request extends Request {
  #controller: AbortController | null = null;
  #aborted = false;

  override get signal(): AbortSignal {
    return Http1Request.controllerOf(this).signal;
  }

  override clone(): Request {
    const copy = new Http1Request(super.clone());
    copy.#controller = Http1Request.controllerOf(this);
    return copy;
  }

  static controllerOf(request: Http1Request): AbortController {
    if (request.#controller === null) {
      request.#controller = new AbortController();
      if (request.#aborted) request.#controller.abort();
    }
    return request.#controller;
  }

  /** The request's abort controller if its signal was ever read, else null. */
  static controllerIfMade(request: Http1Request): AbortController | null {
    return request.#controller;
  }

  static abort(request: Http1Request): void {
    if (request.#controller !== null) request.#controller.abort();
    else request.#aborted = true;
  }
}

/**
 * The answer to a handler that threw.
 *
 * @example
 * ```ts
 * import { internalError } from "./http1_request.ts";
 * console.assert(internalError().status === 500);
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
 * import { toBytes } from "./http1_request.ts";
 * console.assert(toBytes("hé").length === 3);
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
 * import { withBody } from "./http1_request.ts";
 * const bytes = withBody("", new TextEncoder().encode("hi"), true);
 * console.assert(new TextDecoder().decode(bytes) === "2\r\nhi\r\n");
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
