/**
 * A minimal keep-alive HTTP/1.1 client over one TCP connection, for publishing at high rates with
 * little client CPU (one write and usually one read per request). Handles `Content-Length` and
 * chunked responses; bodies are returned as text.
 *
 * @module
 */

const CR = 13;
const LF = 10;
const decoder = new TextDecoder();

/** A parsed response. */
export interface SmallResponse {
  status: number;
  body: string;
}

/**
 * One persistent connection; requests are sent one at a time.
 *
 * @example
 * ```ts ignore
 * import { HttpConnection } from "./http_client.ts";
 * const connection = new HttpConnection("127.0.0.1", 8000);
 * const response = await connection.send(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
 * connection.close();
 * ```
 */
export class HttpConnection {
  readonly host: string;
  readonly port: number;
  #conn: Deno.TcpConn | undefined;
  #buffer = new Uint8Array(16_384);
  #filled = 0;

  /**
   * @example
   * ```ts ignore
   * new HttpConnection("127.0.0.1", 8000);
   * ```
   */
  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
  }

  /**
   * Sends one complete request (head and body bytes) and reads its response. A failed exchange
   * drops the connection; the next call opens a new one. Nothing is retried.
   *
   * @example
   * ```ts ignore
   * const { status, body } = await connection.send(requestBytes);
   * ```
   */
  async send(request: Uint8Array, timeoutMs = 30_000): Promise<SmallResponse> {
    if (!this.#conn) this.#conn = await Deno.connect({ hostname: this.host, port: this.port });
    const conn = this.#conn;
    const timer = setTimeout(() => this.close(), timeoutMs);
    try {
      let written = 0;
      while (written < request.length) written += await conn.write(request.subarray(written));
      return await this.#readResponse(conn);
    } catch (error) {
      this.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Closes the connection (idempotent).
   *
   * @example
   * ```ts ignore
   * connection.close();
   * ```
   */
  close(): void {
    try {
      this.#conn?.close();
    } catch {
      // already closed
    }
    this.#conn = undefined;
    this.#filled = 0;
  }

  async #fill(conn: Deno.TcpConn): Promise<void> {
    if (this.#filled === this.#buffer.length) {
      const bigger = new Uint8Array(this.#buffer.length * 2);
      bigger.set(this.#buffer);
      this.#buffer = bigger;
    }
    const n = await conn.read(this.#buffer.subarray(this.#filled));
    if (n === null) throw new Error("connection closed by the server");
    this.#filled += n;
  }

  async #readResponse(conn: Deno.TcpConn): Promise<SmallResponse> {
    let headEnd = -1;
    while ((headEnd = findHeadEnd(this.#buffer, this.#filled)) < 0) await this.#fill(conn);
    const head = decoder.decode(this.#buffer.subarray(0, headEnd)).toLowerCase();
    const status = Number(head.slice(9, 12));
    const lengthMatch = /\r\ncontent-length:\s*(\d+)/.exec(head);
    let bodyStart = headEnd + 4;
    let body: string;
    if (lengthMatch) {
      const length = Number(lengthMatch[1]);
      while (this.#filled < bodyStart + length) await this.#fill(conn);
      body = decoder.decode(this.#buffer.subarray(bodyStart, bodyStart + length));
      this.#consume(bodyStart + length);
    } else if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) {
      const parts: string[] = [];
      while (true) {
        let lineEnd: number;
        while ((lineEnd = this.#buffer.subarray(bodyStart, this.#filled).indexOf(LF)) < 0) {
          await this.#fill(conn);
        }
        const size = parseInt(
          decoder.decode(this.#buffer.subarray(bodyStart, bodyStart + lineEnd)),
          16,
        );
        const dataStart = bodyStart + lineEnd + 1;
        while (this.#filled < dataStart + size + 2) await this.#fill(conn);
        if (size === 0) {
          this.#consume(dataStart + 2);
          break;
        }
        parts.push(decoder.decode(this.#buffer.subarray(dataStart, dataStart + size)));
        bodyStart = dataStart + size + 2;
      }
      body = parts.join("");
    } else {
      body = "";
      this.#consume(bodyStart);
    }
    if (/\r\nconnection:\s*close/.test(head)) this.close();
    return { status, body };
  }

  #consume(bytes: number): void {
    this.#buffer.copyWithin(0, bytes, this.#filled);
    this.#filled -= bytes;
  }
}

function findHeadEnd(bytes: Uint8Array, filled: number): number {
  for (let i = 0; i + 3 < filled; i++) {
    if (bytes[i] === CR && bytes[i + 1] === LF && bytes[i + 2] === CR && bytes[i + 3] === LF) {
      return i;
    }
  }
  return -1;
}
