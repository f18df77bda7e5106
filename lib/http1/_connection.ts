/**
 * One accepted HTTP/1.1 connection's life: it reads requests, runs the handler, writes responses in
 * order, refuses bad input (then lingers), hands the socket to a response that writes its own body,
 * and tells what depends on the peer when it leaves. Bytes are read by `http1_reader.ts` and
 * `http1_request.ts`, written by `http1_response.ts`; `http1_server.ts` accepts and sweeps.
 *
 * @module
 */

import { Http1Refusal, type RequestHead } from "./_head.ts";
import { Http1Request, readRequest, readRequestHead } from "./_request.ts";
import {
  errorText,
  internalError,
  takenResponseHead,
  writeAll,
  writeRefusal,
  writeResponse,
} from "./_response.ts";
import { SocketReader } from "./_reader.ts";
import type { Http1Handler, Http1Info, Http1ServeOptions, TakenSocket } from "./types.ts";
import { log } from "../util/logger.ts";

/** What a connection needs from its listener. */
export interface ConnectionHost {
  readonly authority: string;
  readonly closing: boolean;
  readonly handler: Http1Handler;
  readonly headTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly writeTimeoutMs: number;
  readonly maxHeadBytes: number;
  readonly maxHeaders: number;
  readonly maxBodyBytes: number;
  readonly takeOver: Http1ServeOptions["takeOver"];
  /** Drops a connection from the tracked set (closed or taken over). */
  forget(conn: Connection): void;
  /** Counts taken-over sockets still open: +1 at take-over, -1 when the socket is gone. */
  countTaken(delta: 1 | -1): void;
}

const LINGER_MS = 2000;

function noop(): void {}
/**
 * Where a connection is in its life; the listener's sweep and shutdown act on it.
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
 */
export class Connection {
  /** Where the connection is in its life. */
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

  /** For the reader: the connection is closed. */
  get closed(): boolean {
    return this.phase === Phase.Closed;
  }

  /**
   * For the taker of the socket: calls `callback` once when the peer leaves (at once if it has).
   */
  onGone(callback: () => void): void {
    if (this.#gone) callback();
    else this.#onGone = callback;
  }

  /**
   * Serves requests until the peer leaves, the connection is refused, taken over or not kept alive.
   */
  async run(): Promise<void> {
    try {
      while (true) {
        const head = await readRequestHead(this.reader, this.server.maxHeaders, () => {
          if (this.phase !== Phase.Head) {
            this.phase = Phase.Head;
            this.deadline = Date.now() + this.server.headTimeoutMs;
          }
        });
        if (head instanceof Http1Refusal) await this.#refuse(head);
        if (head === null || head instanceof Http1Refusal || !(await this.#handle(head))) break;
      }
    } catch (error) {
      log("error", "connection failed", { error: errorText(error) });
    } finally {
      if (this.phase !== Phase.Taken && this.phase !== Phase.Linger) this.close();
    }
  }

  /**
   * Closes the socket (once) and drops the connection from the listener's set.
   */
  close(): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.deadline = 0;
    try {
      this.conn.close();
    } catch { /* already closed */ }
    this.server.forget(this);
  }

  /**
   * For writeAll: a response write has begun (true) or ended (false). While one is in progress
   * the connection has `writeTimeoutMs` to finish it: a client that stops reading a response is
   * closed by the sweep.
   *
   * @example
   * ```ts ignore
   * connection.writing(true);
   * ```
   */
  writing(active: boolean): void {
    if (this.phase !== Phase.Busy) return;
    this.deadline = active ? Date.now() + this.server.writeTimeoutMs : 0;
  }

  /**
   * Called by the shared sweep for an idle connection: drops the read buffer, keeping the probe.
   */
  trim(): void {
    this.reader.trim();
  }

  /**
   * Called by the shared sweep when `deadline` has passed: 408 mid-request, else a close.
   */
  expire(): void {
    if (this.phase !== Phase.Head && this.phase !== Phase.Body) this.close();
    else this.#refuse(new Http1Refusal(408, "request not received in time"));
  }

  /** Answers one request; true when the connection should read the next. */
  async #handle(head: RequestHead): Promise<boolean> {
    if (head.chunked || head.contentLength > 0) this.phase = Phase.Body;
    const request = await readRequest(this, head);
    if (request === null) return false;
    if (request instanceof Http1Refusal) return await this.#refuse(request);
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
    if (!(await writeAll(this, takenResponseHead(response))) || this.#gone) {
      // The peer left first: the taker still gets the (closed) socket, to release what it holds.
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
    this.server.countTaken(1);
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

  /** Answers the refusal as text, then lingers (discarding input) so that the client reads it. */
  async #refuse(refusal: Http1Refusal): Promise<false> {
    if (this.phase >= Phase.Linger) return false;
    this.phase = Phase.Linger;
    this.deadline = Date.now() + LINGER_MS;
    if (await writeRefusal(this, refusal)) this.reader.watch();
    else this.close();
    return false;
  }

  /**
   * The peer has left: aborts the request's signal, tells the taker, cancels the body being read.
   */
  lost(): void {
    if (!this.#gone && this.phase === Phase.Taken) this.server.countTaken(-1);
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
