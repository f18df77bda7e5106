/**
 * A lean HTTP/1.1 server on `Deno.listen` serving a `fetch`-style handler, with keep-alive,
 * pipelining, chunked bodies, one shared timeout sweep, and an optional take-over of the raw
 * connection for responses that write their own body (Server-Sent Events). This module is the
 * listener (accepting, the timeout sweep, shutdown); `connection.ts` serves each connection; the public types live in `types.ts`.
 *
 * @module
 */

import { Connection, type ConnectionHost, Phase } from "./_connection.ts";
import { errorText } from "./_response.ts";
import { refuseSocket } from "./_overload.ts";
import { log } from "../util/logger.ts";
import type { Http1Handler, Http1ServeOptions, Http1Server } from "./types.ts";

export type {
  Http1Handler,
  Http1Info,
  Http1ServeOptions,
  Http1Server,
  TakenSocket,
} from "./types.ts";

/**
 * Listens on `options.hostname:options.port` and answers every request with `handler`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveHttp1 } from "./server.ts";
 * const server = serveHttp1({ port: 0, hostname: "127.0.0.1" }, () => new Response("hi\n"));
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * assert.equal(await response.text(), "hi\n");
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
    this.#listener = Deno.listen({
      port: options.port,
      hostname: options.hostname ?? "0.0.0.0",
      tcpBacklog: options.tcpBacklog ?? 4096,
    });
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
