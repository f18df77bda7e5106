/**
 * One accepted HTTP/1.1 connection: reads request heads and bodies, runs the handler, writes the
 * responses in order (content-length or chunked framing), refuses bad input with a reason, and
 * hands the socket over to a response that writes its own body. `http1_server.ts` accepts
 * connections and sweeps their timeouts.
 *
 * @module
 */

import {
  Http1Refusal,
  latin1Bytes,
  parseRequestHead,
  type RequestHead,
  responseHead,
  STATUS_TEXT,
} from "./http1_head.ts";
import { ChunkedDecoder } from "./http1_chunked.ts";
import {
  buildRequest,
  Http1Request,
  internalError,
  requestUrl,
  withBody,
} from "./http1_request.ts";
import { errorText, writeResponse } from "./http1_response.ts";
import { SocketReader } from "./http1_reader.ts";
import type { Http1Handler, Http1Info, Http1ServeOptions, TakenSocket } from "./http1_server.ts";
import { log } from "./log.ts";

/** What a connection needs from its listener. */
export interface ConnectionHost {
  readonly authority: string;
  readonly closing: boolean;
  readonly handler: Http1Handler;
  readonly headTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxHeadBytes: number;
  readonly maxHeaders: number;
  readonly maxBodyBytes: number;
  readonly takeOver: Http1ServeOptions["takeOver"];
  /** Drops a connection from the tracked set (closed or taken over). */
  forget(conn: Connection): void;
}

const CONTINUE = latin1Bytes("HTTP/1.1 100 Continue\r\n\r\n");
const LINGER_MS = 2000;

function noop(): void {}
/**
 * Where a connection is in its life; the listener's sweep and shutdown act on it.
 *
 * @example
 * ```ts
 * import { Phase } from "./http1_connection.ts";
 * console.assert(Phase.Wait < Phase.Taken);
 * ```
 */
export enum Phase {
  Wait,
  Head,
  Body,
  Busy,
  Linger,
  Taken,
  Closed,
}

/**
 * One accepted connection: reads requests, runs the handler, writes responses in order. The
 * listener makes one per accepted socket and calls `run()`.
 *
 * @example
 * ```ts
 * import { serveHttp1 } from "./http1_server.ts";
 * // Connections are internal to the server: serve, and each accepted socket gets one.
 * const server = serveHttp1({ port: 0, hostname: "127.0.0.1" }, () => new Response("ok"));
 * await server.shutdown();
 * ```
 */
export class Connection {
  phase = Phase.Wait;
  /** Epoch ms when the sweep acts on this connection; 0 = never. */
  deadline: number;
  readonly info: Http1Info;
  readonly reader: SocketReader;
  #gone = false;
  /** The request being answered: aborted when the peer leaves. */
  #request: Http1Request | null = null;
  /** After take-over: the taken request's signal, if it was ever read, aborts when the peer leaves. */
  #takenRequestController: AbortController | null = null;
  /** After take-over: what the taker asked to be called when the peer leaves. */
  #onGone: (() => void) | null = null;
  /** The response body being read: cancelled when the peer leaves. */
  bodyReader: ReadableStreamDefaultReader<unknown> | null = null;

  constructor(readonly server: ConnectionHost, readonly conn: Deno.TcpConn) {
    this.info = { remoteAddr: conn.remoteAddr };
    this.reader = new SocketReader(conn, server.maxHeadBytes, this);
    this.deadline = Date.now() + server.headTimeoutMs;
  }

  /** Whether the peer has left. */
  get gone(): boolean {
    return this.#gone;
  }

  /** For the reader: a request's head or body is being read. */
  get inRequest(): boolean {
    return this.phase <= Phase.Body;
  }

  /** For the reader: what arrives now is dropped. */
  get discarding(): boolean {
    return this.phase === Phase.Taken || this.phase === Phase.Linger;
  }

  /**
   * For the taker of the socket: calls `callback` once when the peer leaves (at once if it has).
   */
  onGone(callback: () => void): void {
    if (this.#gone) callback();
    else this.#onGone = callback;
  }

  /** For the reader: the connection is closed. */
  get closed(): boolean {
    return this.phase === Phase.Closed;
  }

  async run(): Promise<void> {
    try {
      while (true) {
        const head = await this.#readHead();
        if (head === null || !(await this.#handle(head))) break;
      }
    } catch (error) {
      log("error", "connection failed", { error: errorText(error) });
    } finally {
      if (this.phase !== Phase.Taken && this.phase !== Phase.Linger) this.close();
    }
  }

  close(): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.deadline = 0;
    try {
      this.conn.close();
    } catch { /* already closed */ }
    this.server.forget(this);
  }

  /** Called by the shared sweep for an idle connection: drops the read buffer, keeping the probe. */
  trim(): void {
    this.reader.trim();
  }

  /** Called by the shared sweep when `deadline` has passed. */
  expire(): void {
    if (this.phase === Phase.Head || this.phase === Phase.Body) {
      this.#refuse(408, "request not received in time");
    } else this.close();
  }

  async #readHead(): Promise<RequestHead | null> {
    const bytes = await this.reader.nextHead(() => {
      if (this.phase !== Phase.Head) {
        this.phase = Phase.Head;
        this.deadline = Date.now() + this.server.headTimeoutMs;
      }
    });
    if (bytes instanceof Http1Refusal) return this.#refuse(bytes.status, bytes.message);
    if (bytes === null) return null;
    try {
      return parseRequestHead(bytes, this.server.maxHeaders);
    } catch (error) {
      if (error instanceof Http1Refusal) return this.#refuse(error.status, error.message);
      throw error;
    }
  }

  /** Answers one request; true when the connection should read the next. */
  async #handle(head: RequestHead): Promise<boolean> {
    const url = requestUrl(head, this.server.authority);
    if (url instanceof Http1Refusal) return await this.#refuse(url.status, url.message) ?? false;
    const body = await this.#readBody(head);
    if (body === undefined) return false;
    let request: Http1Request;
    try {
      request = buildRequest(url, head, body);
    } catch (error) {
      return await this.#refuse(400, `invalid request: ${(error as Error).message}`) ?? false;
    }
    this.#request = request;
    this.phase = Phase.Busy;
    this.deadline = 0;
    this.reader.watch();
    let response: Response;
    try {
      response = await this.server.handler(request, this.info);
      if (!(response instanceof Response)) throw new TypeError("the handler returned no Response");
      if (response.type === "error") throw new TypeError("the handler returned Response.error()");
    } catch (error) {
      log("error", "request failed", { error: errorText(error) });
      response = internalError();
    }
    if (this.#gone) {
      response.body?.cancel().catch(noop);
      return false;
    }
    const keepAlive = await this.#respond(request, response, head);
    this.#request = null;
    if ((this.phase as Phase) === Phase.Taken) return false;
    this.bodyReader = null;
    if (!keepAlive || this.#gone || this.server.closing || this.phase !== Phase.Busy) return false;
    this.phase = Phase.Wait;
    this.deadline = Date.now() + this.server.idleTimeoutMs;
    return true;
  }

  /** The whole request body, null when there is none, undefined when the connection is done. */
  async #readBody(head: RequestHead): Promise<Uint8Array<ArrayBuffer> | null | undefined> {
    const { maxBodyBytes, maxHeadBytes } = this.server;
    const length = head.contentLength;
    if (!head.chunked && length <= 0) return null;
    if (length > maxBodyBytes) {
      return void await this.#refuse(413, `request body larger than ${maxBodyBytes} bytes`);
    }
    this.phase = Phase.Body;
    if (head.expectContinue && (head.chunked || this.reader.end - this.reader.start < length)) {
      if (!(await this.write(CONTINUE))) return undefined;
    }
    if (head.chunked) {
      const decoder = new ChunkedDecoder(maxBodyBytes, maxHeadBytes);
      while (true) {
        try {
          const { reader } = this;
          reader.start += decoder.feed(reader.buf, reader.start, reader.end);
        } catch (error) {
          if (error instanceof Http1Refusal) {
            return void await this.#refuse(error.status, error.message);
          }
          throw error;
        }
        if (decoder.done) return decoder.body();
        if (!(await this.reader.fill())) return undefined;
      }
    }
    return await this.reader.readExactly(length) ?? undefined;
  }

  /** Writes the response (or hands the socket over); true when the connection may be kept alive. */
  #respond(request: Request, response: Response, head: RequestHead): Promise<boolean> {
    const keepAlive = head.keepAlive && !this.server.closing &&
      !/(^|,)\s*close\s*(,|$)/i.test(response.headers.get("connection") ?? "");
    let take: ((socket: TakenSocket) => void) | undefined;
    try {
      take = this.server.takeOver?.(response, request);
    } catch (error) {
      log("error", "request failed", { error: errorText(error) });
      response = internalError();
    }
    if (take) return this.#takeOver(take, response);
    return writeResponse(this, response, head, keepAlive);
  }

  async #takeOver(take: (socket: TakenSocket) => void, response: Response): Promise<boolean> {
    const reason = response.statusText || STATUS_TEXT[response.status] || "";
    const text = responseHead(response.status, reason, response.headers, ["connection: close"]);
    if (!(await this.write(latin1Bytes(text))) || this.#gone) {
      // The peer left before the head went out: the taker still gets the (closed) socket, so
      // whatever it reserved for the stream is released.
      try {
        take(this);
      } catch { /* nothing to release */ }
      return false;
    }
    this.#takenRequestController = Http1Request.controllerIfMade(this.#request!);
    this.#request = null;
    this.phase = Phase.Taken;
    this.deadline = 0;
    this.server.forget(this);
    this.reader.release();
    this.reader.watch();
    try {
      take(this);
    } catch (error) {
      log("error", "take-over failed", { error: errorText(error) });
      try {
        this.conn.close();
      } catch { /* already closed */ }
    }
    return false;
  }

  /** Answers `status` with `reason` as text, then lingers briefly so the client can read it. */
  async #refuse(status: number, reason: string): Promise<null> {
    if (this.phase >= Phase.Linger) return null;
    this.phase = Phase.Linger;
    this.deadline = Date.now() + LINGER_MS;
    const body = new TextEncoder().encode(`${reason}\n`);
    const head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ""}\r\n` +
      `content-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\n` +
      "connection: close\r\n\r\n";
    if (await this.write(withBody(head, body, false))) {
      try {
        await this.conn.closeWrite();
        this.reader.watch(); // discard what the client still sends until it closes or the linger ends
        return null;
      } catch { /* fall through */ }
    }
    this.close();
    return null;
  }

  /** Writes all of `bytes`; false when the peer is gone. */
  async write(bytes: Uint8Array): Promise<boolean> {
    try {
      for (let offset = 0; offset < bytes.length;) {
        offset += await this.conn.write(offset === 0 ? bytes : bytes.subarray(offset));
      }
      return true;
    } catch {
      this.lost();
      return false;
    }
  }

  /** The peer has left: aborts what depends on it. */
  lost(): void {
    this.#gone = true;
    if (this.#request !== null) Http1Request.abort(this.#request);
    this.#takenRequestController?.abort();
    const onGone = this.#onGone;
    this.#onGone = null;
    onGone?.();
    this.bodyReader?.cancel().catch(noop);
    if (this.phase === Phase.Linger) this.close();
  }
}
