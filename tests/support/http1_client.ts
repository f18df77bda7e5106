/**
 * Test support for the HTTP/1.1 server: start one on an ephemeral loopback port, and a raw TCP
 * client that sends exact bytes and reads whole responses.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type Http1Handler,
  type Http1ServeOptions,
  type Http1Server,
  serveHttp1,
} from "../../lib/http1/server.ts";

/**
 * Serves `handler` on 127.0.0.1 with an ephemeral port.
 *
 * @example
 * ```ts
 * import { start } from "./http1_client.ts";
 * const server = start(() => new Response("ok"));
 * await server.shutdown();
 * ```
 */
export function start(
  handler: Http1Handler,
  options: Partial<Http1ServeOptions> = {},
): Http1Server {
  return serveHttp1({ port: 0, hostname: "127.0.0.1", ...options }, handler);
}

/** A response as the raw client read it. */
export interface RawResponse {
  status: number;
  /** The head exactly as received, blank line included. */
  head: string;
  headers: Headers;
  body: string;
}

/**
 * A raw TCP client that sends bytes and reads whole HTTP/1.1 responses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RawClient, start } from "./http1_client.ts";
 * const server = start(() => new Response("ok"));
 * const client = await RawClient.open(server);
 * await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
 * assert.ok((await client.response()).body === "ok");
 * client.close();
 * await server.shutdown();
 * ```
 */
export class RawClient {
  #text = "";
  #eof = false;
  constructor(readonly conn: Deno.TcpConn) {}

  static async open(server: Http1Server): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }));
  }

  async send(text: string): Promise<void> {
    const bytes = new TextEncoder().encode(text);
    for (let offset = 0; offset < bytes.length;) {
      offset += await this.conn.write(bytes.subarray(offset));
    }
  }

  /** Reads a response head, then its body (none when `noBody`, e.g. for HEAD). */
  async response(noBody = false): Promise<RawResponse> {
    const response = await this.head();
    const { status, headers } = response;
    if (noBody || status < 200 || status === 204 || status === 304) return response;
    if (headers.has("content-length")) {
      response.body = await this.take(Number(headers.get("content-length")));
    } else if (headers.get("transfer-encoding") === "chunked") {
      for (let chunk = await this.chunk(); chunk !== null; chunk = await this.chunk()) {
        response.body += chunk;
      }
    } else response.body = await this.rest();
    return response;
  }

  async head(): Promise<RawResponse> {
    let end = this.#text.indexOf("\r\n\r\n");
    while (end < 0) {
      if (!(await this.#more())) {
        throw new Error(`EOF before a head: ${JSON.stringify(this.#text)}`);
      }
      end = this.#text.indexOf("\r\n\r\n");
    }
    const head = await this.take(end + 4);
    const [statusLine, ...lines] = head.slice(0, -4).split("\r\n");
    const headers = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    return { status: Number(statusLine.split(" ")[1]), head, headers, body: "" };
  }

  /** The next chunk of a chunked body, or null after the last chunk. */
  async chunk(): Promise<string | null> {
    while (!this.#text.includes("\r\n")) await this.#mustRead();
    const line = await this.take(this.#text.indexOf("\r\n") + 2);
    const size = parseInt(line, 16);
    const data = await this.take(size + 2);
    assert.equal(data.slice(size), "\r\n");
    return size === 0 ? null : data.slice(0, size);
  }

  /** Everything until the server closes the connection. */
  async rest(): Promise<string> {
    while (await this.#more());
    return await this.take(this.#text.length);
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed already */ }
  }

  async take(length: number): Promise<string> {
    while (this.#text.length < length) await this.#mustRead();
    const taken = this.#text.slice(0, length);
    this.#text = this.#text.slice(length);
    return taken;
  }

  async #mustRead(): Promise<void> {
    if (!(await this.#more())) throw new Error(`EOF after ${JSON.stringify(this.#text)}`);
  }

  async #more(): Promise<boolean> {
    if (this.#eof) return false;
    const buffer = new Uint8Array(16_384);
    const n = await this.conn.read(buffer).catch(() => null);
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#text += String.fromCharCode(...buffer.subarray(0, n));
    return true;
  }
}

/**
 * A handler answering `METHOD URL[:body]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { echo } from "./http1_client.ts";
 * const response = await echo(new Request("http://h/x"), { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } });
 * assert.ok((await response.text()) === "GET http://h/x");
 * ```
 */
export const echo: Http1Handler = async (request) => {
  const body = request.body === null ? "" : `:${await request.text()}`;
  return new Response(`${request.method} ${request.url}${body}`);
};
