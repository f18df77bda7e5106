/**
 * A lean HTTP/1.1 server on `Deno.listen` serving a `fetch`-style handler, with keep-alive,
 * pipelining, chunked bodies, one shared timeout sweep, and an optional take-over of the raw
 * connection for responses that write their own body (Server-Sent Events). This module is the
 * listener (accepting, the timeout sweep, shutdown); `http1_connection.ts` serves each connection.
 *
 * @module
 */

import { Connection, type ConnectionHost, Phase } from "./connection.ts";
import { errorText } from "./response.ts";
import { refuseSocket } from "./overload.ts";
import { log } from "../util/logger.ts";

/** Facts about the connection a request came on. */
export interface Http1Info {
  remoteAddr: Deno.NetAddr;
}

/** The application's `fetch`-style handler. */
export type Http1Handler = (request: Request, info: Http1Info) => Response | Promise<Response>;

/** A connection handed over to a response that writes its own body. */
export interface TakenSocket {
  /** The raw connection: the taker writes the body bytes with conn.write (handling partial writes) and closes it when done. */
  conn: Deno.Conn;
  /**
   * Registers what to call, once, when the peer closes or the connection fails (at once if it
   * already has); the server keeps reading and discarding bytes to notice EOF. One callback: a
   * later call replaces it.
   */
  onGone(callback: () => void): void;
}

/** Where and how {@link serveHttp1} listens, its limits and timeouts. */
export interface Http1ServeOptions {
  /** 0 picks an ephemeral port. */
  port: number;
  /** Default "0.0.0.0". */
  hostname?: string;
  /** Aborting it is `shutdown()`. */
  signal?: AbortSignal;
  onListen?: (addr: Deno.NetAddr) => void;
  /** Default 65_536; a larger request head gets 431, then the connection closes. */
  maxHeadBytes?: number;
  /** Default 100; more header fields get 431. */
  maxHeaders?: number;
  /** Default 1_048_576; a larger declared or chunked body gets 413, then the connection closes. */
  maxBodyBytes?: number;
  /** Default 30_000: a request head (with its body) not complete in time gets 408 and a close. */
  headTimeoutMs?: number;
  /** Default 75_000: an idle keep-alive connection is closed silently. */
  idleTimeoutMs?: number;
  /**
   * Default 30_000: a response write (its head, or one piece of its body) not taken by the client
   * in time ends the connection, so a client that stops reading cannot hold it.
   */
  writeTimeoutMs?: number;
  /**
   * Default: unlimited. Open sockets (taken-over streams included) past which a new connection is
   * refused at once, before its request is read: a fixed 503 with `Retry-After`, then the socket
   * closes, so a flood of connections cannot climb to the descriptor limit.
   */
  maxConnections?: number;
  /** Default 5: the `Retry-After` seconds of a connection refused by `maxConnections`. */
  retryAfterSeconds?: number;
  /**
   * Called with every response before anything is written. Returning a function means "I write the
   * body myself": the server writes the status line and the response's headers plus
   * `connection: close` (no content-length, no transfer-encoding: the body ends when the connection
   * closes), then calls the function with the TakenSocket, and never writes to that connection again.
   * The server leaves the response's body untouched.
   */
  takeOver?: (response: Response, request: Request) => ((socket: TakenSocket) => void) | undefined;
}

/** A running server. */
export interface Http1Server {
  readonly addr: Deno.NetAddr;
  /** Resolves when the listener is closed and every in-flight (not taken-over) request has been answered. */
  readonly finished: Promise<void>;
  /** Stops accepting, closes idle keep-alive connections, lets in-flight requests finish. */
  shutdown(): Promise<void>;
}

/**
 * Listens on `options.hostname:options.port` and answers every request with `handler`.
 *
 * @example
 * ```ts
 * import { serveHttp1 } from "./server.ts";
 * const server = serveHttp1({ port: 0, hostname: "127.0.0.1" }, () => new Response("hi\n"));
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * console.assert((await response.text()) === "hi\n");
 * await server.shutdown();
 * ```
 */
export function serveHttp1(options: Http1ServeOptions, handler: Http1Handler): Http1Server {
  return new Http1Listener(options, handler);
}

class Http1Listener implements Http1Server, ConnectionHost {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  readonly conns = new Set<Connection>();
  readonly maxHeadBytes: number;
  readonly maxHeaders: number;
  readonly maxBodyBytes: number;
  readonly headTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly writeTimeoutMs: number;
  readonly maxConnections: number;
  readonly retryAfterSeconds: number;
  readonly authority: string;
  readonly takeOver: Http1ServeOptions["takeOver"];
  closing = false;
  #listener: Deno.TcpListener;
  #accepting = true;
  #resolveFinished!: () => void;
  #sweepTimer: ReturnType<typeof setInterval>;
  #taken = 0;
  #lastRefusalLog = 0;

  constructor(options: Http1ServeOptions, readonly handler: Http1Handler) {
    this.maxHeadBytes = options.maxHeadBytes ?? 65_536;
    this.maxHeaders = options.maxHeaders ?? 100;
    this.maxBodyBytes = options.maxBodyBytes ?? 1_048_576;
    this.headTimeoutMs = options.headTimeoutMs ?? 30_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 75_000;
    this.writeTimeoutMs = options.writeTimeoutMs ?? 30_000;
    this.maxConnections = options.maxConnections ?? Infinity;
    this.retryAfterSeconds = options.retryAfterSeconds ?? 5;
    this.takeOver = options.takeOver;
    this.#listener = Deno.listen({ port: options.port, hostname: options.hostname ?? "0.0.0.0" });
    this.addr = this.#listener.addr;
    const host = this.addr.hostname.includes(":") ? `[${this.addr.hostname}]` : this.addr.hostname;
    this.authority = `${host}:${this.addr.port}`;
    this.finished = new Promise((resolve) => this.#resolveFinished = resolve);
    const shortest = Math.min(this.headTimeoutMs, this.idleTimeoutMs, this.writeTimeoutMs);
    const every = Math.max(10, Math.min(1000, Math.floor(shortest / 4)));
    this.#sweepTimer = setInterval(() => this.#sweep(), every);
    Deno.unrefTimer(this.#sweepTimer);
    options.onListen?.(this.addr);
    if (options.signal?.aborted) this.shutdown();
    else options.signal?.addEventListener("abort", () => this.shutdown(), { once: true });
    this.#accept();
  }

  /**
   * Stops accepting, closes idle keep-alive connections, lets in-flight requests finish.
   *
   * @example
   * ```ts
   * import { serveHttp1 } from "./server.ts";
   * const server = serveHttp1({ port: 0, hostname: "127.0.0.1" }, () => new Response("ok"));
   * await server.shutdown();
   * ```
   */
  shutdown(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      try {
        this.#listener.close();
      } catch { /* already closed */ }
      for (const conn of this.conns) {
        if (conn.phase === Phase.Wait || conn.phase === Phase.Linger) conn.close();
      }
    }
    return this.finished;
  }

  /** Drops a connection from the tracked set (closed or taken over). */
  forget(conn: Connection): void {
    if (this.conns.delete(conn)) this.#checkFinished();
  }

  /** Counts taken-over sockets still open. */
  countTaken(delta: 1 | -1): void {
    this.#taken += delta;
  }

  /** Sockets open now: connections being served and taken-over streams. */
  get openSockets(): number {
    return this.conns.size + this.#taken;
  }

  async #accept(): Promise<void> {
    let backoff = 0;
    while (!this.closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
        backoff = 0;
      } catch (error) {
        if (this.closing || error instanceof Deno.errors.BadResource) break;
        backoff = Math.min(backoff ? backoff * 2 : 10, 1000);
        log("error", "accept failed", { error: errorText(error), retryMs: backoff });
        await new Promise((resolve) => setTimeout(resolve, backoff));
        continue;
      }
      if (this.openSockets >= this.maxConnections) {
        this.#refuse(conn);
        continue;
      }
      try {
        conn.setNoDelay(true);
      } catch { /* the peer may already be gone */ }
      const connection = new Connection(this, conn);
      this.conns.add(connection);
      connection.run();
    }
    this.#accepting = false;
    this.#checkFinished();
  }

  #refuse(conn: Deno.TcpConn): void {
    const now = Date.now();
    if (now - this.#lastRefusalLog >= 10_000) {
      this.#lastRefusalLog = now;
      log("warn", "connection limit reached: refusing new connections", {
        maxConnections: this.maxConnections,
      });
    }
    refuseSocket(conn, {
      reason: `connection limit reached (${this.maxConnections})`,
      retryAfterSeconds: this.retryAfterSeconds,
    });
  }

  #sweep(): void {
    const now = Date.now();
    for (const conn of this.conns) {
      if (conn.deadline !== 0 && conn.deadline <= now) conn.expire();
      else if (conn.phase === Phase.Wait) conn.trim();
    }
  }

  #checkFinished(): void {
    if (this.#accepting || this.conns.size > 0) return;
    clearInterval(this.#sweepTimer);
    this.#resolveFinished();
  }
}
