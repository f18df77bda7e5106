/**
 * The public types of the HTTP/1.1 server: the handler it calls, the options it takes, the server
 * it returns, and the socket it hands to a response that writes its own body. `server.ts` (the
 * listener) and `connection.ts` (one connection) both use them; neither imports the other's types.
 *
 * @module
 */

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

/** Where and how `serveHttp1` listens, its limits and timeouts. */
export interface Http1ServeOptions {
  /** 0 picks an ephemeral port. */
  port: number;
  /** Default "0.0.0.0". */
  hostname?: string;
  /**
   * Default 4096: the kernel's listen queue (capped by `net.core.somaxconn`). Connections that
   * arrive together wait there to be accepted; once it is full the kernel drops their SYNs and the
   * clients retry only after 1 s, 3 s, … — Deno's default of 511 made 2,000 subscribers arriving
   * at once wait out that retry.
   */
  tcpBacklog?: number;
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
