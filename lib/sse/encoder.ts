/**
 * Server-Sent Events encoder, following the WHATWG "Server-sent events" rules.
 *
 * Every field is written as `field: value` (with the space, so a value starting with a space keeps
 * it), data is split on CR, LF and CRLF into one `data:` line each, and `event`/`id` values that
 * would inject fields (CR, LF, NUL) are refused.
 *
 * @module
 */

/** One event as the server writes it. */
export interface ServerSentEvent {
  /** The payload; split into one `data:` line per line. An event with no data is not dispatched by clients. */
  data?: string;
  /** The event type (`event:` field); must not hold CR, LF or NUL. */
  event?: string;
  /** The event id (`id:` field); must not hold CR, LF or NUL. */
  id?: string;
  /** Reconnection time in milliseconds; a non-negative integer. */
  retry?: number;
  /** A comment line (`: text`), ignored by clients. */
  comment?: string;
}

/**
 * Raised when a field value cannot be written safely.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeEvent } from "./encoder.ts";
 * assert.throws(() => encodeEvent({ event: "a\nb", data: "x" }), {
 *   name: "InvalidSseFieldError",
 *   field: "event",
 * });
 * ```
 */
export class InvalidSseFieldError extends TypeError {
  /** The offending field name. */
  readonly field: string;
  constructor(field: string, reason: string) {
    super(`SSE field "${field}" ${reason}`);
    this.name = "InvalidSseFieldError";
    this.field = field;
  }
}

const LINE_BREAK = /\r\n|\r|\n/;
const FORBIDDEN_IN_FIELD = /[\r\n\0]/;

/**
 * Tells whether a value can be an `event` or `id` field without injecting other fields.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isSafeFieldValue } from "./encoder.ts";
 * assert.equal(isSafeFieldValue("price_update"), true);
 * assert.equal(isSafeFieldValue("a\r\nb"), false);
 * ```
 */
export function isSafeFieldValue(value: string): boolean {
  return !FORBIDDEN_IN_FIELD.test(value);
}

/**
 * Tells whether a number is a valid `retry` value: a non-negative safe integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidRetry } from "./encoder.ts";
 * assert.equal(isValidRetry(3000), true);
 * assert.equal(isValidRetry(1.5), false);
 * ```
 */
export function isValidRetry(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/**
 * Encodes one event as SSE text, ending with the blank line that dispatches it.
 *
 * @throws {InvalidSseFieldError} when `event` or `id` holds CR, LF or NUL, or `retry` is not a
 * non-negative integer.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeEvent } from "./encoder.ts";
 * const text = encodeEvent({ id: "1", event: "greeting", data: "hello\nworld" });
 * assert.equal(text, "id: 1\nevent: greeting\ndata: hello\ndata: world\n\n");
 * ```
 */
export function encodeEvent(event: ServerSentEvent): string {
  let text = "";
  if (event.comment !== undefined) text += encodeCommentLines(event.comment);
  if (event.id !== undefined) {
    if (!isSafeFieldValue(event.id)) {
      throw new InvalidSseFieldError("id", "must not contain CR, LF or NUL");
    }
    text += `id: ${event.id}\n`;
  }
  if (event.event !== undefined) {
    if (!isSafeFieldValue(event.event)) {
      throw new InvalidSseFieldError("event", "must not contain CR, LF or NUL");
    }
    text += `event: ${event.event}\n`;
  }
  if (event.retry !== undefined) {
    if (!isValidRetry(event.retry)) {
      throw new InvalidSseFieldError("retry", "must be a non-negative integer");
    }
    text += `retry: ${event.retry}\n`;
  }
  if (event.data !== undefined) {
    for (const line of event.data.split(LINE_BREAK)) text += `data: ${line}\n`;
  }
  return text + "\n";
}

function encodeCommentLines(comment: string): string {
  let text = "";
  for (const line of comment.split(LINE_BREAK)) text += line === "" ? ":\n" : `: ${line}\n`;
  return text;
}

/**
 * Encodes a comment block (heartbeat or note); clients ignore it but proxies see traffic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeComment } from "./encoder.ts";
 * assert.equal(encodeComment("ping"), ": ping\n\n");
 * ```
 */
export function encodeComment(comment: string): string {
  return encodeCommentLines(comment) + "\n";
}

const textEncoder = new TextEncoder();

/**
 * Encodes one event straight to UTF-8 bytes, ready to be shared by every subscriber.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeEventBytes } from "./encoder.ts";
 * const bytes = encodeEventBytes({ data: "hi" });
 * assert.equal(new TextDecoder().decode(bytes), "data: hi\n\n");
 * ```
 */
export function encodeEventBytes(event: ServerSentEvent): Uint8Array {
  return textEncoder.encode(encodeEvent(event));
}
