/**
 * The request and response pieces of the HTTP/1.1 server: a `Request` whose abort signal is made
 * only when read, and the byte helpers that frame a response body.
 *
 * @module
 */

import { latin1Bytes } from "./http1_head.ts";

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
