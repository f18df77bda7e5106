/**
 * HTTP/1.1 wire pieces for {@link ./http1_server.ts}: finding and parsing a request head and
 * serialising a response head (chunked bodies: `http1_chunked.ts`).
 *
 * @module
 */

/**
 * A request the server refuses: answer `status` with `reason` as text, then close.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Http1Refusal } from "./_head.ts";
 * const refusal = new Http1Refusal(431, "request head too large");
 * assert.deepEqual([refusal.status, refusal.message], [431, "request head too large"]);
 * ```
 */
export class Http1Refusal extends Error {
  constructor(readonly status: number, reason: string) {
    super(reason);
    this.name = "Http1Refusal";
  }
}

/** What a request head says, with the framing facts the server needs. */
export interface RequestHead {
  method: string;
  /** The request target as sent: `/path?q`, `http://host/path` or `*`. */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minorVersion: number;
  /** Header fields as sent (values trimmed), flat: name, value, name, value… */
  fields: string[];
  /** The Host header, or null when absent. */
  host: string | null;
  /** The declared Content-Length, or -1. */
  contentLength: number;
  chunked: boolean;
  keepAlive: boolean;
  expectContinue: boolean;
}

const LF = 10;
const CR = 13;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x22\x24-\x7e]+$/; // visible ASCII without "#"
const VERSION = /^HTTP\/(\d)\.(\d)$/;
const DIGITS = /^\d{1,15}$/;
/** Control characters other than HTAB (RFC 9110 §5.5: field values are VCHAR, obs-text, SP, HTAB). */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * Returns the index just past the blank line ending a head in `buf[from, end)`, or -1.
 * Accepts CRLF and bare LF line ends (RFC 9112 §2.2 lets a recipient accept a bare LF; a bare CR
 * is refused by {@link parseRequestHead}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findHeadEnd } from "./_head.ts";
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\nrest");
 * assert.equal(findHeadEnd(bytes, 0, bytes.length), bytes.length - 4);
 * ```
 */
export function findHeadEnd(buf: Uint8Array, from: number, end: number): number {
  for (let i = buf.indexOf(LF, from); i !== -1 && i < end; i = buf.indexOf(LF, i + 1)) {
    if (i + 1 < end && buf[i + 1] === LF) return i + 2;
    if (i + 2 < end && buf[i + 1] === CR && buf[i + 2] === LF) return i + 3;
  }
  return -1;
}

/**
 * Decodes bytes one char per byte (ISO-8859-1), as HTTP field bytes are defined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latin1 } from "./_head.ts";
 * assert.equal(latin1(new Uint8Array([72, 105, 0xe9])), "Hi\u00e9");
 * ```
 */
export function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  }
  return text;
}

/**
 * Parses a complete request head (request line, fields, blank line). Throws an
 * {@link Http1Refusal} naming the status and reason for anything malformed or unsupported.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRequestHead } from "./_head.ts";
 * const head = parseRequestHead(new TextEncoder().encode("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), 100);
 * assert.deepEqual([head.method, head.target, head.host, head.keepAlive], ["GET", "/a", "x", true]);
 * ```
 */
export function parseRequestHead(bytes: Uint8Array, maxHeaders: number): RequestHead {
  const lines = latin1(bytes).split("\n");
  const requestLine = stripCR(lines[0]);
  const parts = requestLine.split(" ");
  if (parts.length !== 3 || !TOKEN.test(parts[0]) || parts[1] === "") {
    throw new Http1Refusal(400, "malformed request line");
  }
  const [method, target, version] = parts;
  const versionMatch = VERSION.exec(version);
  if (!versionMatch) throw new Http1Refusal(400, "malformed request line");
  if (versionMatch[1] !== "1" || (versionMatch[2] !== "0" && versionMatch[2] !== "1")) {
    throw new Http1Refusal(505, `HTTP version not supported: ${version}`);
  }
  if (!TARGET.test(target)) throw new Http1Refusal(400, "invalid request target");
  const minorVersion = versionMatch[2] === "1" ? 1 : 0;
  const fields: string[] = [];
  let host: string | null = null;
  let contentLength: string | null = null;
  let transferEncoding: string | null = null;
  let connection = "";
  let expect: string | null = null;
  let count = 0;
  const last = lines.length - 2; // the blank line ending the head, then "" after its LF
  for (let i = 1; i < last; i++) {
    const line = stripCR(lines[i]);
    if (line === "") break;
    if (++count > maxHeaders) throw new Http1Refusal(431, "too many header fields");
    if (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) {
      throw new Http1Refusal(400, "obsolete header line folding is not accepted");
    }
    const colon = line.indexOf(":");
    if (colon < 0) throw new Http1Refusal(400, "header line without a colon");
    const name = line.slice(0, colon);
    if (/[ \t]$/.test(name)) throw new Http1Refusal(400, "whitespace before a header colon");
    if (!TOKEN.test(name)) throw new Http1Refusal(400, "invalid header name");
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (CONTROL.test(value)) {
      throw new Http1Refusal(400, `control character in the value of header ${name.toLowerCase()}`);
    }
    fields.push(name, value);
    const lower = name.toLowerCase();
    if (lower === "host") {
      if (host !== null) throw new Http1Refusal(400, "more than one Host header");
      host = value;
    } else if (lower === "content-length") {
      if (contentLength !== null && contentLength !== value) {
        throw new Http1Refusal(400, "conflicting Content-Length headers");
      }
      contentLength = value;
    } else if (lower === "transfer-encoding") {
      transferEncoding = transferEncoding === null ? value : `${transferEncoding}, ${value}`;
    } else if (lower === "connection") connection += `,${value.toLowerCase()}`;
    else if (lower === "expect") expect = expect === null ? value : `${expect}, ${value}`;
  }
  if (contentLength !== null && transferEncoding !== null) {
    throw new Http1Refusal(400, "both Content-Length and Transfer-Encoding");
  }
  if (contentLength !== null && !DIGITS.test(contentLength)) {
    throw new Http1Refusal(400, "invalid Content-Length");
  }
  if (transferEncoding !== null && minorVersion === 0) {
    // RFC 9112 §6.1: the framing of an HTTP/1.0 message with Transfer-Encoding is faulty.
    throw new Http1Refusal(400, "Transfer-Encoding in an HTTP/1.0 request");
  }
  const chunked = transferEncoding !== null;
  if (chunked && transferEncoding!.toLowerCase() !== "chunked") {
    throw new Http1Refusal(501, `unsupported Transfer-Encoding: ${transferEncoding}`);
  }
  const keepAlive = minorVersion === 1
    ? !hasToken(connection, "close")
    : hasToken(connection, "keep-alive") && !hasToken(connection, "close");
  if (expect !== null && expect.toLowerCase() !== "100-continue") {
    throw new Http1Refusal(417, `unsupported expectation: ${expect}`);
  }
  return {
    method,
    target,
    minorVersion,
    fields,
    host,
    contentLength: contentLength === null ? -1 : Number(contentLength),
    chunked,
    keepAlive,
    expectContinue: expect !== null && minorVersion === 1,
  };
}

function stripCR(line: string): string {
  const trimmed = line.endsWith("\r") ? line.slice(0, -1) : line;
  if (trimmed.includes("\r")) throw new Http1Refusal(400, "bare CR in request head");
  return trimmed;
}

function hasToken(list: string, token: string): boolean {
  return list.split(",").some((item) => item.trim() === token);
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "content-length",
  "set-cookie",
]);

/**
 * Serialises `HTTP/1.1 <status> <reason>`, the response's headers (minus hop-by-hop fields and
 * Content-Length, which the server decides), every Set-Cookie, then `framing` lines (each
 * `name: value`) and the blank line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { responseHead } from "./_head.ts";
 * const head = responseHead(200, "OK", new Headers({ "content-type": "text/plain" }), ["content-length: 2"]);
 * assert.equal(head, "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\n");
 * ```
 */
export function responseHead(
  status: number,
  reason: string,
  headers: Headers,
  framing: string[],
): string {
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [name, value] of headers) {
    if (!HOP_BY_HOP.has(name)) head += `${name}: ${value}\r\n`;
  }
  for (const cookie of headers.getSetCookie()) head += `set-cookie: ${cookie}\r\n`;
  for (const line of framing) head += `${line}\r\n`;
  return head + "\r\n";
}

/**
 * Encodes `text` one byte per char (ISO-8859-1) into a new array with `extra` spare bytes at the end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latin1Bytes } from "./_head.ts";
 * assert.deepEqual([...latin1Bytes("ok", 3)], [111, 107, 0, 0, 0]);
 * ```
 */
export function latin1Bytes(text: string, extra = 0): Uint8Array {
  const bytes = new Uint8Array(text.length + extra);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * Standard reason phrases by status code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STATUS_TEXT } from "./_head.ts";
 * assert.equal(STATUS_TEXT[431], "Request Header Fields Too Large");
 * ```
 */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non-Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};
