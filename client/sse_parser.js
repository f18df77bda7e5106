// @ts-check
/**
 * Server-Sent Events parser, following the WHATWG HTML "Server-sent events" interpretation rules:
 * streaming UTF-8 decoding (one leading BOM stripped), lines ending in CR, LF or CRLF (a CRLF split
 * across two chunks is one line break), `:` comments, `data`/`event`/`id`/`retry` fields, dispatch
 * on a blank line, and an incomplete event at the end of the stream discarded.
 *
 * Plain JavaScript with JSDoc types and Web APIs only (`TextDecoder`, `TransformStream`), so
 * browsers load it as it is (the client library imports it) and Deno type-checks it.
 *
 * @module
 */

/**
 * One dispatched event, as an `EventSource` would fire it.
 *
 * @typedef {object} ParsedEvent
 * @property {string} type The event type: the `event` field, or `"message"` when it was absent or
 * empty.
 * @property {string} data The data lines joined with LF.
 * @property {string} lastEventId The last event id in force when the event was dispatched (it
 * carries over between events).
 */

/**
 * What the parser calls as it reads the stream.
 *
 * @typedef {object} SseParserHandlers
 * @property {(event: ParsedEvent) => void} onEvent Called for every dispatched event.
 * @property {(ms: number) => void} [onRetry] Called for every valid `retry` field (all ASCII
 * digits), as soon as its line ends.
 * @property {(text: string) => void} [onComment] Called for every comment line with the text after
 * the colon, one leading space removed.
 */

const ASCII_DIGITS = /^[0-9]+$/;
const BOM = "\uFEFF";

/**
 * A push parser for `text/event-stream`: feed it chunks of bytes or text, it calls the handlers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SseParser } from "./sse_parser.js";
 * const seen: string[] = [];
 * const parser = new SseParser({ onEvent: (event) => seen.push(event.data) });
 * parser.feed("data: hel");
 * parser.feed("lo\n\n");
 * parser.end();
 * assert.deepEqual(seen, ["hello"]);
 * ```
 */
export class SseParser {
  /** @type {SseParserHandlers} */
  #handlers;
  #decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  #lineBreak = /[\r\n]/g;
  #atStreamStart = true;
  #ended = false;
  /** The current line so far, in pieces, while it spans chunks. @type {string[]} */
  #partialLine = [];
  /** The previous chunk ended in CR: an LF starting the next chunk belongs to that line break. */
  #skipLeadingLineFeed = false;
  /** @type {string[]} */
  #dataLines = [];
  #eventType = "";
  #lastEventIdBuffer = "";
  #lastEventId = "";

  /**
   * @param {SseParserHandlers} handlers
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SseParser } from "./sse_parser.js";
   * const seen: string[] = [];
   * const parser = new SseParser({
   *   onEvent: (event) => seen.push(`${event.type}: ${event.data}`),
   *   onRetry: (ms) => seen.push(`retry: ${ms}`),
   *   onComment: (text) => seen.push(`comment: ${text}`),
   * });
   * parser.feed(": hi\nretry: 10\ndata: x\n\n");
   * assert.deepEqual(seen, ["comment: hi", "retry: 10", "message: x"]);
   * ```
   */
  constructor(handlers) {
    this.#handlers = handlers;
  }

  /**
   * The last event id string: set from the last event id buffer each time an event is dispatched
   * (a blank line), even when the event had no data and so was not fired.
   *
   * @returns {string}
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SseParser } from "./sse_parser.js";
   * const parser = new SseParser({ onEvent() {} });
   * parser.feed("id: 7\n\n");
   * assert.equal(parser.lastEventId, "7");
   * ```
   */
  get lastEventId() {
    return this.#lastEventId;
  }

  /**
   * Reads one chunk. Bytes are decoded as UTF-8 in streaming mode, so a character split across
   * chunks is kept whole; strings are taken as already decoded text.
   *
   * @param {Uint8Array | string} chunk
   * @returns {void}
   * @throws {TypeError} when called after {@linkcode SseParser.end}.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SseParser } from "./sse_parser.js";
   * const seen: string[] = [];
   * const parser = new SseParser({ onEvent: (event) => seen.push(event.data) });
   * const bytes = new TextEncoder().encode("data: é\n\n");
   * parser.feed(bytes.subarray(0, 7)); // ends inside "é"
   * parser.feed(bytes.subarray(7));
   * assert.deepEqual(seen, ["é"]);
   * ```
   */
  feed(chunk) {
    if (this.#ended) throw new TypeError("SseParser: feed() called after end()");
    const text = typeof chunk === "string" ? chunk : this.#decoder.decode(chunk, { stream: true });
    this.#readText(text);
  }

  /**
   * Ends the stream: an unfinished line and an undispatched event are discarded, as the spec
   * requires. Bytes of an unfinished UTF-8 sequence are dropped with them.
   *
   * @returns {void}
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SseParser } from "./sse_parser.js";
   * const seen: string[] = [];
   * const parser = new SseParser({ onEvent: (event) => seen.push(event.data) });
   * parser.feed("data: complete\n\ndata: cut short\n");
   * parser.end(); // an event without its blank line is never dispatched
   * assert.deepEqual(seen, ["complete"]);
   * ```
   */
  end() {
    if (this.#ended) return;
    this.#ended = true;
    this.#decoder.decode();
    this.#partialLine = [];
    this.#dataLines = [];
    this.#eventType = "";
  }

  /** @param {string} text */
  #readText(text) {
    if (text === "") return;
    let start = 0;
    if (this.#atStreamStart) {
      this.#atStreamStart = false;
      if (text.startsWith(BOM)) start = 1;
    }
    if (this.#skipLeadingLineFeed) {
      this.#skipLeadingLineFeed = false;
      if (text.charCodeAt(start) === 0x0a) start++;
    }
    this.#lineBreak.lastIndex = start;
    /** @type {RegExpExecArray | null} */
    let match;
    while ((match = this.#lineBreak.exec(text)) !== null) {
      const end = match.index;
      let line = text.slice(start, end);
      if (this.#partialLine.length > 0) {
        this.#partialLine.push(line);
        line = this.#partialLine.join("");
        this.#partialLine = [];
      }
      start = end + 1;
      if (text.charCodeAt(end) === 0x0d) {
        if (start === text.length) this.#skipLeadingLineFeed = true;
        else if (text.charCodeAt(start) === 0x0a) start++;
        this.#lineBreak.lastIndex = start;
      }
      this.#readLine(line);
    }
    if (start < text.length) this.#partialLine.push(text.slice(start));
  }

  /** @param {string} line */
  #readLine(line) {
    if (line === "") return this.#dispatch();
    const colon = line.indexOf(":");
    if (colon === 0) {
      this.#handlers.onComment?.(withoutOneLeadingSpace(line.slice(1)));
      return;
    }
    if (colon === -1) return this.#readField(line, "");
    this.#readField(line.slice(0, colon), withoutOneLeadingSpace(line.slice(colon + 1)));
  }

  /**
   * @param {string} name
   * @param {string} value
   */
  #readField(name, value) {
    switch (name) {
      case "event":
        this.#eventType = value;
        break;
      case "data":
        this.#dataLines.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.#lastEventIdBuffer = value;
        break;
      case "retry":
        if (ASCII_DIGITS.test(value)) this.#handlers.onRetry?.(Number(value));
        break;
    }
  }

  #dispatch() {
    this.#lastEventId = this.#lastEventIdBuffer;
    const dataLines = this.#dataLines;
    const type = this.#eventType === "" ? "message" : this.#eventType;
    this.#dataLines = [];
    this.#eventType = "";
    if (dataLines.length === 0) return;
    // Each data line added "value + LF"; the last LF is removed: joining with LF does both.
    this.#handlers.onEvent({ type, data: dataLines.join("\n"), lastEventId: this.#lastEventId });
  }
}

/**
 * @param {string} value
 * @returns {string}
 */
function withoutOneLeadingSpace(value) {
  return value.charCodeAt(0) === 0x20 ? value.slice(1) : value;
}

/**
 * Parses a whole event stream at once.
 *
 * @param {string | Uint8Array} input
 * @returns {{ events: ParsedEvent[], retry: number | undefined, comments: string[], lastEventId: string }}
 * the dispatched events, the last valid `retry` (or `undefined`), every comment, and the last event
 * id string at the end of the stream.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEventStream } from "./sse_parser.js";
 * const result = parseEventStream("retry: 500\nid: 1\nevent: ping\ndata: a\ndata: b\n\n");
 * assert.equal(result.events[0].data, "a\nb");
 * assert.equal(result.events[0].type, "ping");
 * assert.equal(result.retry, 500);
 * assert.equal(result.lastEventId, "1");
 * ```
 */
export function parseEventStream(input) {
  /** @type {ParsedEvent[]} */
  const events = [];
  /** @type {string[]} */
  const comments = [];
  /** @type {number | undefined} */
  let retry;
  const parser = new SseParser({
    onEvent: (event) => events.push(event),
    onRetry: (ms) => retry = ms,
    onComment: (text) => comments.push(text),
  });
  parser.feed(input);
  parser.end();
  return { events, retry, comments, lastEventId: parser.lastEventId };
}

/**
 * A `TransformStream` from `text/event-stream` bytes (or text) to dispatched events.
 *
 * @extends {TransformStream<Uint8Array | string, ParsedEvent>}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventStreamDecoderStream } from "./sse_parser.js";
 * const body = new Response("id: 1\ndata: hi\n\ndata: there\n\n").body!;
 * const events = await Array.fromAsync(body.pipeThrough(new EventStreamDecoderStream()));
 * assert.deepEqual(events.map((event) => event.data), ["hi", "there"]);
 * ```
 */
export class EventStreamDecoderStream extends TransformStream {
  /**
   * @param {{ onRetry?(ms: number): void, onComment?(text: string): void }} [options]
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { EventStreamDecoderStream } from "./sse_parser.js";
   * const retries: number[] = [];
   * const decoder = new EventStreamDecoderStream({ onRetry: (ms) => retries.push(ms) });
   * await new Response("retry: 250\n\n").body!.pipeThrough(decoder).pipeTo(new WritableStream());
   * assert.deepEqual(retries, [250]);
   * ```
   */
  constructor(options = {}) {
    /** @type {SseParser | undefined} */
    let parser;
    super({
      /** @param {TransformStreamDefaultController<ParsedEvent>} controller */
      start(controller) {
        parser = new SseParser({
          onEvent: (event) => controller.enqueue(event),
          onRetry: options.onRetry && ((ms) => options.onRetry?.(ms)),
          onComment: options.onComment && ((text) => options.onComment?.(text)),
        });
      },
      /** @param {Uint8Array | string} chunk */
      transform(chunk) {
        parser?.feed(chunk);
      },
      flush() {
        parser?.end();
      },
    });
  }
}
