/**
 * The byte-level HTTP/1.1 test client, shared by every test that must see the wire: request lines
 * longer than `fetch` allows, `Content-Encoding` left undecoded, chunks as the server flushed them,
 * several requests on one connection, and how a connection ended.
 *
 * It frames responses as RFC 9112 says: no body for HEAD, 1xx, 204 and 304; else chunked when
 * `Transfer-Encoding` says so, else `Content-Length` bytes, else everything until the server
 * closes. A clean close (end of file) and a failure (a reset, say) are told apart everywhere: a
 * read error is thrown, never taken for the end of the stream.
 *
 * @module
 */

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** Bytes as a string of the same length, one character per byte (`latin1`). */
function binary(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}

/** Thrown when the connection ended cleanly before the bytes a caller needed. */
export class UnexpectedEof extends Error {
  override name = "UnexpectedEof";
}

/** The status line and headers of a response, the head exactly as received. */
export interface ResponseHead {
  status: number;
  /** The head as received, blank line included (`latin1`). */
  head: string;
  headers: Headers;
}

/**
 * A buffered reader of one connection. `more()` is false only at a clean end of file; a read
 * error (a reset) rejects.
 */
class WireReader {
  #buffer = new Uint8Array(0);
  #eof = false;
  readonly #scratch = new Uint8Array(65536);

  constructor(readonly conn: Deno.Conn) {}

  get buffered(): Uint8Array {
    return this.#buffer;
  }

  get eof(): boolean {
    return this.#eof;
  }

  /** Reads once more; false at end of file. Read errors propagate. */
  async more(): Promise<boolean> {
    if (this.#eof) return false;
    const count = await this.conn.read(this.#scratch);
    if (count === null) {
      this.#eof = true;
      return false;
    }
    const joined = new Uint8Array(this.#buffer.length + count);
    joined.set(this.#buffer);
    joined.set(this.#scratch.subarray(0, count), this.#buffer.length);
    this.#buffer = joined;
    return true;
  }

  /** Reads until `length` bytes are buffered; rejects with {@link UnexpectedEof} at end of file. */
  async need(length: number, what: string): Promise<void> {
    while (this.#buffer.length < length) {
      if (!(await this.more())) {
        throw new UnexpectedEof(
          `connection closed before ${what}: ${
            JSON.stringify(binary(this.#buffer.subarray(0, 200)))
          }`,
        );
      }
    }
  }

  /** Removes and returns the first `length` buffered bytes. */
  take(length: number): Uint8Array {
    const taken = this.#buffer.slice(0, length);
    this.#buffer = this.#buffer.subarray(length);
    return taken;
  }

  /** The index of `CRLF` (or `CRLFCRLF` with `blank`) in the buffer, reading until it is there. */
  async findLineEnd(blank: boolean, what: string): Promise<number> {
    let from = 0;
    for (;;) {
      const bytes = this.#buffer;
      for (let i = from; i + (blank ? 3 : 1) < bytes.length; i++) {
        if (bytes[i] !== 13 || bytes[i + 1] !== 10) continue;
        if (!blank) return i;
        if (bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
      }
      from = Math.max(0, bytes.length - 3);
      if (!(await this.more())) {
        throw new UnexpectedEof(
          `connection closed before ${what}: ${
            JSON.stringify(binary(this.#buffer.subarray(0, 200)))
          }`,
        );
      }
    }
  }
}

/** How a body is framed, from its response head (RFC 9112 section 6.3). */
type Framing = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" } | {
  kind: "close";
};

function framingOf(head: ResponseHead, requestMethod: string): Framing {
  const { status, headers } = head;
  if (requestMethod === "HEAD" || status < 200 || status === 204 || status === 304) {
    return { kind: "none" };
  }
  if (headers.get("transfer-encoding")?.toLowerCase().split(",").at(-1)?.trim() === "chunked") {
    return { kind: "chunked" };
  }
  const length = headers.get("content-length");
  if (length !== null) {
    if (!/^\d+$/.test(length)) throw new Error(`bad Content-Length: ${length}`);
    return { kind: "length", length: Number(length) };
  }
  return { kind: "close" };
}

/**
 * A raw HTTP/1.1 client on one connection: send exact bytes, read responses one after another.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RawClient } from "./raw_http.ts";
 * const server = Deno.serve({ port: 0, onListen() {} }, () => new Response("ok"));
 * const client = await RawClient.open(server.addr.port);
 * await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
 * const response = await client.response();
 * assert.equal(response.status, 200);
 * assert.equal(response.body, "ok");
 * client.close();
 * await server.shutdown();
 * ```
 */
export class RawClient {
  readonly #reader: WireReader;

  constructor(readonly conn: Deno.Conn) {
    this.#reader = new WireReader(conn);
  }

  /** Connects to a loopback port (or a server's `addr.port`). */
  static async open(target: number | { addr: { port: number } }): Promise<RawClient> {
    const port = typeof target === "number" ? target : target.addr.port;
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Writes all of `data` (a string is sent as UTF-8). */
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    for (let offset = 0; offset < bytes.length;) {
      offset += await this.conn.write(bytes.subarray(offset));
    }
  }

  /** Reads a response head. Rejects with {@link UnexpectedEof} when the server closes first. */
  async head(): Promise<ResponseHead & { body: string }> {
    const end = await this.#reader.findLineEnd(true, "a response head");
    const head = binary(this.#reader.take(end + 4));
    const [statusLine, ...lines] = head.slice(0, -4).split("\r\n");
    const headers = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    return { status: Number(statusLine.split(" ")[1]), head, headers, body: "" };
  }

  /**
   * Reads a whole response, its body framed by its head (`noBody` for the answer to a HEAD
   * request). The body is `latin1` text: one character per byte.
   */
  async response(noBody = false): Promise<ResponseHead & { body: string }> {
    const response = await this.head();
    const framing = framingOf(response, noBody ? "HEAD" : "GET");
    if (framing.kind === "length") response.body = await this.take(framing.length);
    else if (framing.kind === "chunked") {
      for (let chunk = await this.chunk(); chunk !== null; chunk = await this.chunk()) {
        response.body += chunk;
      }
    } else if (framing.kind === "close") response.body = await this.rest();
    return response;
  }

  /** The next chunk of a chunked body (`latin1`), or null after the last chunk and trailers. */
  async chunk(): Promise<string | null> {
    const bytes = await this.#chunkBytes();
    return bytes === null ? null : binary(bytes);
  }

  async #chunkBytes(): Promise<Uint8Array | null> {
    const reader = this.#reader;
    const lineEnd = await reader.findLineEnd(false, "a chunk size line");
    const line = binary(reader.take(lineEnd + 2));
    const sizeText = line.slice(0, -2).split(";")[0].trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new Error(`bad chunk size line: ${line}`);
    const size = parseInt(sizeText, 16);
    if (size === 0) {
      // Trailers, then the blank line.
      for (;;) {
        const end = await reader.findLineEnd(false, "the end of the chunked body");
        reader.take(end + 2);
        if (end === 0) return null;
      }
    }
    await reader.need(size + 2, "the end of a chunk");
    const data = reader.take(size);
    const crlf = reader.take(2);
    if (crlf[0] !== 13 || crlf[1] !== 10) throw new Error("a chunk does not end with CRLF");
    return data;
  }

  /**
   * Everything until the server closes the connection cleanly (`latin1`). A reset rejects: `""`
   * means the server closed without sending anything more.
   */
  async rest(): Promise<string> {
    while (await this.#reader.more());
    return binary(this.#reader.take(this.#reader.buffered.length));
  }

  /** Exactly `length` bytes (`latin1`); rejects with {@link UnexpectedEof} when they never come. */
  async take(length: number): Promise<string> {
    await this.#reader.need(length, `${length} bytes`);
    return binary(this.#reader.take(length));
  }

  /**
   * The body of a response whose head was read, as a stream of the bytes as they arrive
   * (chunked framing removed, content coding kept). It ends where its framing says; a reset, or
   * a clean close before a framed body is complete, errors it.
   */
  bodyStream(head: ResponseHead, requestMethod = "GET"): ReadableStream<Uint8Array> {
    const framing = framingOf(head, requestMethod);
    const reader = this.#reader;
    let left = framing.kind === "length" ? framing.length : 0;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (framing.kind === "none" || (framing.kind === "length" && left === 0)) {
          controller.close();
          return;
        }
        if (framing.kind === "chunked") {
          const chunk = await this.#chunkPiece();
          if (chunk === null) controller.close();
          else controller.enqueue(chunk);
          return;
        }
        if (reader.buffered.length === 0 && !(await reader.more())) {
          if (framing.kind === "close") controller.close();
          else throw new UnexpectedEof(`connection closed with ${left} body bytes to come`);
          return;
        }
        const count = framing.kind === "length"
          ? Math.min(left, reader.buffered.length)
          : reader.buffered.length;
        left -= count;
        controller.enqueue(reader.take(count));
      },
      cancel: () => this.close(),
    });
  }

  #chunkLeft = -1;

  /** Chunk data as soon as any of it is here (the stream passes partial chunks on). */
  async #chunkPiece(): Promise<Uint8Array | null> {
    const reader = this.#reader;
    if (this.#chunkLeft <= 0) {
      if (this.#chunkLeft === 0) {
        await reader.need(2, "the CRLF after a chunk");
        reader.take(2);
      }
      const lineEnd = await reader.findLineEnd(false, "a chunk size line");
      const sizeText = binary(reader.take(lineEnd + 2)).slice(0, -2).split(";")[0].trim();
      if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new Error(`bad chunk size: ${sizeText}`);
      const size = parseInt(sizeText, 16);
      if (size === 0) {
        for (;;) {
          const end = await reader.findLineEnd(false, "the end of the chunked body");
          reader.take(end + 2);
          if (end === 0) break;
        }
        this.#chunkLeft = -1;
        return null;
      }
      this.#chunkLeft = size;
    }
    await reader.need(1, "chunk data");
    const count = Math.min(this.#chunkLeft, reader.buffered.length);
    this.#chunkLeft -= count;
    return reader.take(count);
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // closed already
    }
  }
}

/**
 * The status line and headers of a raw response, and its body (de-chunked, not decoded).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type RawResponse, rawRequest } from "./raw_http.ts";
 * const server = Deno.serve({ port: 0, onListen() {} }, () => new Response("ok"));
 * const response: RawResponse = await rawRequest(server.addr.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
 * assert.equal(await new Response(response.body).text(), "ok");
 * response.close();
 * await server.shutdown();
 * ```
 */
export interface RawResponse {
  status: number;
  headers: Headers;
  /**
   * The body bytes as the server framed them (chunked framing removed, content coding kept). It
   * ends where the framing says; a reset errors it.
   */
  body: ReadableStream<Uint8Array>;
  /** Closes the connection. */
  close(): void;
}

/**
 * Reads a response (head, then a streaming body) from a connection the request was written to.
 * Closing the response closes the connection.
 *
 * @throws {UnexpectedEof} when the server closes the connection before a full response head; a
 * reset rejects with the error of the read.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readResponse } from "./raw_http.ts";
 * const server = Deno.serve({ port: 0, onListen() {} }, () => new Response("ok"));
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
 * await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
 * const response = await readResponse(conn);
 * assert.equal(response.status, 200);
 * response.close();
 * await server.shutdown();
 * ```
 */
export async function readResponse(conn: Deno.Conn, requestMethod = "GET"): Promise<RawResponse> {
  const client = new RawClient(conn);
  try {
    const head = await client.head();
    return {
      status: head.status,
      headers: head.headers,
      body: client.bodyStream(head, requestMethod),
      close: () => client.close(),
    };
  } catch (error) {
    client.close();
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
 * const server = Deno.serve({ port: 0, onListen() {} }, () => new Response("ok"));
 * const response = await rawRequest(server.addr.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
 * assert.equal(response.status, 200);
 * response.close();
 * await server.shutdown();
 * ```
 */
export async function rawRequest(port: number, head: string | Uint8Array): Promise<RawResponse> {
  const client = await RawClient.open(port);
  try {
    await client.send(head);
  } catch (error) {
    client.close();
    throw error;
  }
  const method = (typeof head === "string" ? head : latin1.decode(head.subarray(0, 8)))
    .split(" ")[0];
  return await readResponse(client.conn, method);
}

/**
 * Sends a request and reads the whole response body as text (the connection is closed after).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rawExchange } from "./raw_http.ts";
 * const server = Deno.serve({ port: 0, onListen() {} }, () => new Response("ok\n"));
 * const { status, text } = await rawExchange(server.addr.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
 * assert.ok(status === 200 && text === "ok\n");
 * await server.shutdown();
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
