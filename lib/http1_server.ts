/**
 * A lean HTTP/1.1 server on `Deno.listen` serving a `fetch`-style handler, with keep-alive,
 * pipelining, chunked bodies, one shared timeout sweep, and an optional take-over of the raw
 * connection for responses that write their own body (Server-Sent Events).
 *
 * @module
 */

import {
  ChunkedDecoder,
  findHeadEnd,
  Http1Refusal,
  latin1Bytes,
  parseRequestHead,
  type RequestHead,
  responseHead,
  STATUS_TEXT,
} from "./http1_head.ts";
import { log } from "./log.ts";

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
  /** Aborts when the peer closes or the connection fails (the server keeps reading and discarding bytes to notice EOF). */
  closed: AbortSignal;
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
 * import { serveHttp1 } from "./http1_server.ts";
 * const server = serveHttp1({ port: 0, hostname: "127.0.0.1" }, () => new Response("hi\n"));
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * console.assert((await response.text()) === "hi\n");
 * await server.shutdown();
 * ```
 */
export function serveHttp1(options: Http1ServeOptions, handler: Http1Handler): Http1Server {
  return new Http1Listener(options, handler);
}

const INITIAL_BUFFER = 4096;
const PROBE_BYTES = 64;
const EMPTY = new Uint8Array(0);
const PENDING = Symbol("pending");
const CONTINUE = latin1Bytes("HTTP/1.1 100 Continue\r\n\r\n");
const LAST_CHUNK = latin1Bytes("0\r\n\r\n");
const DIGITS = /^\d{1,15}$/;
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(:\d{0,5})?$/;
const LINGER_MS = 2000;

function noop(): void {}
function soon(): Promise<typeof PENDING> {
  return Promise.resolve().then(noop).then(noop).then(noop).then(() => PENDING);
}
function errorText(error: unknown): string {
  return error instanceof Error ? error.stack ?? error.message : String(error);
}

class Http1Listener implements Http1Server {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  readonly conns = new Set<Connection>();
  readonly maxHeadBytes: number;
  readonly maxHeaders: number;
  readonly maxBodyBytes: number;
  readonly headTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly authority: string;
  readonly takeOver: Http1ServeOptions["takeOver"];
  closing = false;
  #listener: Deno.TcpListener;
  #accepting = true;
  #resolveFinished!: () => void;
  #sweepTimer: ReturnType<typeof setInterval>;

  constructor(options: Http1ServeOptions, readonly handler: Http1Handler) {
    this.maxHeadBytes = options.maxHeadBytes ?? 65_536;
    this.maxHeaders = options.maxHeaders ?? 100;
    this.maxBodyBytes = options.maxBodyBytes ?? 1_048_576;
    this.headTimeoutMs = options.headTimeoutMs ?? 30_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 75_000;
    this.takeOver = options.takeOver;
    this.#listener = Deno.listen({ port: options.port, hostname: options.hostname ?? "0.0.0.0" });
    this.addr = this.#listener.addr;
    const host = this.addr.hostname.includes(":") ? `[${this.addr.hostname}]` : this.addr.hostname;
    this.authority = `${host}:${this.addr.port}`;
    this.finished = new Promise((resolve) => this.#resolveFinished = resolve);
    const shortest = Math.min(this.headTimeoutMs, this.idleTimeoutMs);
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
   * import { serveHttp1 } from "./http1_server.ts";
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

const enum Phase {
  Wait,
  Head,
  Body,
  Busy,
  Linger,
  Taken,
  Closed,
}

/** One accepted connection: reads requests, runs the handler, writes responses in order. */
class Connection {
  phase = Phase.Wait;
  /** Epoch ms when the sweep acts on this connection; 0 = never. */
  deadline: number;
  buf: Uint8Array = new Uint8Array(INITIAL_BUFFER);
  start = 0;
  end = 0;
  readonly info: Http1Info;
  #probe: Uint8Array | null = null;
  #reading: Promise<boolean> | null = null;
  #probing = false;
  #gone = false;
  /** The request being answered: aborted when the peer leaves. */
  #request: Http1Request | null = null;
  /** After take-over: aborts `closed` (and the request's signal) when the peer leaves. */
  #closed: AbortController | null = null;
  #bodyReader: ReadableStreamDefaultReader<unknown> | null = null;

  constructor(readonly server: Http1Listener, readonly conn: Deno.TcpConn) {
    this.info = { remoteAddr: conn.remoteAddr };
    this.deadline = Date.now() + server.headTimeoutMs;
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
    if (this.#probing && this.#reading !== null && this.start === this.end) this.buf = EMPTY;
  }

  /** Called by the shared sweep when `deadline` has passed. */
  expire(): void {
    if (this.phase === Phase.Head || this.phase === Phase.Body) {
      this.#refuse(408, "request not received in time");
    } else this.close();
  }

  async #readHead(): Promise<RequestHead | null> {
    const { server } = this;
    let scanned = 0; // bytes after `start` already searched for the blank line
    while (true) {
      while (
        this.start < this.end && (this.buf[this.start] === 13 || this.buf[this.start] === 10)
      ) {
        this.start++;
      }
      if (this.start < this.end) {
        if (this.phase !== Phase.Head) {
          this.phase = Phase.Head;
          this.deadline = Date.now() + server.headTimeoutMs;
        }
        const headEnd = findHeadEnd(this.buf, this.start + Math.max(0, scanned - 3), this.end);
        if ((headEnd < 0 ? this.end : headEnd) - this.start > server.maxHeadBytes) {
          return this.#refuse(431, `request head larger than ${server.maxHeadBytes} bytes`);
        }
        if (headEnd >= 0) {
          const bytes = this.buf.subarray(this.start, headEnd);
          this.start = headEnd;
          try {
            return parseRequestHead(bytes, server.maxHeaders);
          } catch (error) {
            if (error instanceof Http1Refusal) return this.#refuse(error.status, error.message);
            throw error;
          }
        }
        scanned = this.end - this.start;
      }
      if (!(await this.#fill())) return null;
    }
  }

  /** Answers one request; true when the connection should read the next. */
  async #handle(head: RequestHead): Promise<boolean> {
    const url = this.#url(head);
    if (url instanceof Http1Refusal) return await this.#refuse(url.status, url.message) ?? false;
    const body = await this.#readBody(head);
    if (body === undefined) return false;
    let request: Http1Request;
    try {
      const hasBody = head.method !== "GET" && head.method !== "HEAD";
      request = new Http1Request(url, { method: head.method, body: hasBody ? body : null });
      const { headers } = request;
      for (let i = 0; i < head.fields.length; i += 2) {
        headers.append(head.fields[i], head.fields[i + 1]);
      }
    } catch (error) {
      return await this.#refuse(400, `invalid request: ${(error as Error).message}`) ?? false;
    }
    this.#request = request;
    this.phase = Phase.Busy;
    this.deadline = 0;
    this.#watch();
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
    this.#bodyReader = null;
    if (!keepAlive || this.#gone || this.server.closing || this.phase !== Phase.Busy) return false;
    this.phase = Phase.Wait;
    this.deadline = Date.now() + this.server.idleTimeoutMs;
    return true;
  }

  #url(head: RequestHead): string | Http1Refusal {
    const { target } = head;
    if (/^https?:\/\//i.test(target)) return target;
    if (target[0] !== "/") return new Http1Refusal(400, "unsupported request target");
    if (head.host === null && head.minorVersion === 1) {
      return new Http1Refusal(400, "missing Host header");
    }
    if (!head.host) return `http://${this.server.authority}${target}`;
    if (!HOST.test(head.host)) return new Http1Refusal(400, "invalid Host header");
    return `http://${head.host}${target}`;
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
    if (head.expectContinue && (head.chunked || this.end - this.start < length)) {
      if (!(await this.#write(CONTINUE))) return undefined;
    }
    if (head.chunked) {
      const decoder = new ChunkedDecoder(maxBodyBytes, maxHeadBytes);
      while (true) {
        try {
          this.start += decoder.feed(this.buf, this.start, this.end);
        } catch (error) {
          if (error instanceof Http1Refusal) {
            return void await this.#refuse(error.status, error.message);
          }
          throw error;
        }
        if (decoder.done) return decoder.body();
        if (!(await this.#fill())) return undefined;
      }
    }
    const body = new Uint8Array(length);
    let filled = Math.min(length, this.end - this.start);
    body.set(this.buf.subarray(this.start, this.start + filled));
    this.start += filled;
    while (filled < length) {
      const n = await this.conn.read(body.subarray(filled)).catch(() => null);
      if (n === null) this.#lost();
      if (n === null || this.phase !== Phase.Body) return undefined;
      filled += n;
    }
    return body;
  }

  /** Writes the response; true when the connection may be kept alive. */
  async #respond(request: Request, response: Response, head: RequestHead): Promise<boolean> {
    let keepAlive = head.keepAlive && !this.server.closing &&
      !/(^|,)\s*close\s*(,|$)/i.test(response.headers.get("connection") ?? "");
    let take: ((socket: TakenSocket) => void) | undefined;
    try {
      take = this.server.takeOver?.(response, request);
    } catch (error) {
      log("error", "request failed", { error: errorText(error) });
      response = internalError();
    }
    if (take) return this.#takeOver(take, response);
    const { status } = response;
    const framing: string[] = [];
    let payload: Uint8Array | null = null;
    let next: Promise<ReadableStreamReadResult<unknown>> | null = null;
    const bodyless = head.method === "HEAD" || status < 200 || status === 204 || status === 304;
    if (bodyless) {
      response.body?.cancel().catch(noop);
      const declared = response.headers.get("content-length");
      if (status >= 200 && status !== 204 && declared !== null && DIGITS.test(declared)) {
        framing.push(`content-length: ${declared}`);
      } else if (status >= 200 && status !== 204 && status !== 304 && response.body === null) {
        framing.push("content-length: 0");
      }
    } else if (response.body !== null) {
      try {
        const reader = response.body.getReader();
        this.#bodyReader = reader;
        const first = await reader.read();
        if (!first.done) {
          payload = toBytes(first.value);
          const second = reader.read();
          const settled = await Promise.race([second, soon()]);
          if (settled === PENDING || !settled.done) next = second;
        }
      } catch (error) {
        log("error", "request failed", { error: errorText(error) });
        if (this.#gone) return false;
        return this.#respond(request, internalError(), head);
      }
    }
    if (next !== null) {
      if (head.minorVersion === 1) framing.push("transfer-encoding: chunked");
      else keepAlive = false;
    } else if (!bodyless) {
      framing.push(`content-length: ${payload?.length ?? 0}`);
    }
    const chunked = next !== null && head.minorVersion === 1;
    if (!keepAlive) framing.push("connection: close");
    else if (head.minorVersion === 0) framing.push("connection: keep-alive");
    const reason = response.statusText || STATUS_TEXT[status] || "";
    const text = responseHead(status, reason, response.headers, framing);
    if (!(await this.#write(withBody(text, payload, chunked)))) return false;
    if (next === null) return keepAlive;
    try {
      while (true) {
        const result = await next;
        if (this.#gone) return false;
        if (result.done) break;
        const bytes = toBytes(result.value);
        if (bytes.length > 0 && !(await this.#write(withBody("", bytes, chunked)))) return false;
        next = this.#bodyReader!.read();
      }
    } catch (error) {
      log("error", "response body failed", { error: errorText(error) });
      this.#bodyReader?.cancel(error).catch(noop);
      return false; // closing without the last chunk tells the client the body is incomplete
    }
    if (chunked && !(await this.#write(LAST_CHUNK))) return false;
    return keepAlive;
  }

  async #takeOver(take: (socket: TakenSocket) => void, response: Response): Promise<boolean> {
    const reason = response.statusText || STATUS_TEXT[response.status] || "";
    const text = responseHead(response.status, reason, response.headers, ["connection: close"]);
    if (!(await this.#write(latin1Bytes(text))) || this.#gone) return false;
    const closed = Http1Request.controllerOf(this.#request!);
    this.#closed = closed;
    this.#request = null;
    this.phase = Phase.Taken;
    this.deadline = 0;
    this.server.forget(this);
    this.buf = EMPTY;
    this.start = this.end = 0;
    this.#watch();
    try {
      take({ conn: this.conn, closed: closed.signal });
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
    if (await this.#write(withBody(head, body, false))) {
      try {
        await this.conn.closeWrite();
        this.#watch(); // discard what the client still sends until it closes or the linger ends
        return null;
      } catch { /* fall through */ }
    }
    this.close();
    return null;
  }

  async #write(bytes: Uint8Array): Promise<boolean> {
    try {
      for (let offset = 0; offset < bytes.length;) {
        offset += await this.conn.write(offset === 0 ? bytes : bytes.subarray(offset));
      }
      return true;
    } catch {
      this.#lost();
      return false;
    }
  }

  /** Reads more into `buf`; false when the peer is gone or the connection moved on. */
  async #fill(): Promise<boolean> {
    if (this.#reading === null) {
      this.#makeRoom(1);
      this.#probing = false;
      this.#reading = this.#readOnce(false);
    }
    return (await this.#reading) && this.phase <= Phase.Body;
  }

  /** Keeps a small read pending to notice EOF while busy, after take-over and while lingering. */
  #watch(): void {
    if (this.#reading !== null || this.phase === Phase.Closed) return;
    this.#probe ??= new Uint8Array(PROBE_BYTES);
    this.#probing = true;
    this.#reading = this.#readOnce(true);
  }

  async #readOnce(intoProbe: boolean): Promise<boolean> {
    const target = intoProbe ? this.#probe! : this.buf.subarray(this.end);
    const n = await this.conn.read(target).catch(() => null);
    this.#reading = null;
    if (n === null) {
      this.#lost();
      return false;
    }
    if (this.phase === Phase.Taken || this.phase === Phase.Linger) {
      this.#watch(); // discard
      return true;
    }
    if (intoProbe) {
      this.#makeRoom(n);
      this.buf.set(target.subarray(0, n), this.end);
    }
    this.end += n;
    return true;
  }

  #lost(): void {
    this.#gone = true;
    if (this.#request !== null) Http1Request.abort(this.#request);
    this.#closed?.abort();
    this.#bodyReader?.cancel().catch(noop);
    if (this.phase === Phase.Linger) this.close();
  }

  #makeRoom(needed: number): void {
    if (this.start === this.end) this.start = this.end = 0;
    if (this.buf.length - this.end >= needed) return;
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.buf.length - this.end >= needed) return;
    const cap = Math.max(this.server.maxHeadBytes + 1, this.end + needed);
    const grown = new Uint8Array(
      Math.min(cap, Math.max(this.buf.length * 2, INITIAL_BUFFER, this.end + needed)),
    );
    grown.set(this.buf.subarray(0, this.end));
    this.buf = grown;
  }
}

/**
 * A Request whose `signal` is only made when read: handing a signal to `new Request` costs more
 * than the rest of the request. Clones share the signal.
 */
class Http1Request extends Request {
  #controller: AbortController | null = null;
  #aborted = false;

  override get signal(): AbortSignal {
    return Http1Request.controllerOf(this).signal;
  }

  override clone(): Request {
    const copy = new Http1Request(super.clone());
    copy.#controller = Http1Request.controllerOf(this);
    return copy;
  }

  static controllerOf(request: Http1Request): AbortController {
    if (request.#controller === null) {
      request.#controller = new AbortController();
      if (request.#aborted) request.#controller.abort();
    }
    return request.#controller;
  }

  static abort(request: Http1Request): void {
    if (request.#controller !== null) request.#controller.abort();
    else request.#aborted = true;
  }
}

function internalError(): Response {
  return new Response("internal error\n", {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return new TextEncoder().encode(chunk);
  if (ArrayBuffer.isView(chunk)) {
    return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new TypeError("response body chunks must be bytes");
}

/** Encodes a head (may be "") followed by `body`, framed as one chunk when `chunked`. */
function withBody(head: string, body: Uint8Array | null, chunked: boolean): Uint8Array {
  if (body === null || body.length === 0) return latin1Bytes(head);
  const size = chunked ? `${body.length.toString(16)}\r\n` : "";
  const bytes = latin1Bytes(head + size, body.length + (chunked ? 2 : 0));
  const at = head.length + size.length;
  bytes.set(body, at);
  if (chunked) bytes.set([13, 10], at + body.length);
  return bytes;
}
