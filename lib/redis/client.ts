/**
 * A small Redis client over `Deno.connect` / `Deno.connectTls`: one connection, commands
 * pipelined (every command issued in one tick goes out in one write; replies come back in order),
 * AUTH and SELECT on each (re)connect, a deadline on every command, bounded reply buffers (see
 * `resp.ts`), and reconnection with exponential backoff and jitter.
 *
 * While the connection is down, commands fail at once with a {@link RedisUnavailableError} (a
 * {@link StorageUnavailableError}) instead of queueing without bound; the first command after the
 * backoff delay tries to connect again. A command in flight when the connection breaks fails the
 * same way, marked `maybeWritten`: Redis may have run it.
 *
 * Blocking commands (XREAD BLOCK) hold the connection: give them a client of their own.
 *
 * @module
 */

import { concatBytes } from "../util/bytes.ts";
import { StorageUnavailableError } from "../hub/mod.ts";
import {
  encodeCommand,
  type RespArgument,
  RespDecoder,
  RespError,
  type RespLimits,
  type RespValue,
} from "./resp.ts";
import type { RedisAddress } from "./url.ts";

/** Error replies that mean "not now" (loading after a restart, busy, failing over), not "never". */
const TRANSIENT = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|READONLY|NOREPLICAS|CLUSTERDOWN)\b/;

/** Redis could not be reached, or the connection broke. */
export class RedisUnavailableError extends StorageUnavailableError {
  constructor(message: string, options: { maybeWritten?: boolean; retryAfterMs?: number } = {}) {
    super(message, {
      maybeWritten: options.maybeWritten,
      retryAfterSeconds: Math.max(1, Math.ceil((options.retryAfterMs ?? 1000) / 1000)),
    });
    this.name = "RedisUnavailableError";
  }
}

/** Options of {@link RedisClient}. */
export interface RedisClientOptions {
  /** Where to connect (see `url.ts`). */
  address: RedisAddress;
  /** How long a connection (with the TLS handshake, AUTH and SELECT) may take, ms. Default 2000. */
  connectTimeoutMs?: number;
  /** How long a reply may take, ms, unless a command says otherwise. Default 5000. */
  commandTimeoutMs?: number;
  /** The first reconnect delay, ms (doubles per failure, with jitter). Default 100. */
  minBackoffMs?: number;
  /** The longest reconnect delay, ms. Default 2000. */
  maxBackoffMs?: number;
  /** Bounds of replies. */
  limits?: RespLimits;
  /** Most commands waiting for replies at once. Default 100,000. */
  maxPending?: number;
}

interface Pending {
  resolve: (value: RespValue) => void;
  reject: (error: Error) => void;
  deadline: number;
  /** Reply errors resolve (pipelines want them as values) instead of rejecting. */
  errorsAsValues: boolean;
}

interface Connection {
  conn: Deno.Conn;
  inflight: Pending[];
  outbox: Uint8Array[];
  writing: boolean;
  broken: boolean;
  watchdog: ReturnType<typeof setInterval>;
}

/**
 * A pipelining Redis client.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { RedisClient } from "./client.ts";
 * import { parseRedisUrl } from "./url.ts";
 * const client = new RedisClient({ address: parseRedisUrl("redis://127.0.0.1:6379") });
 * const [set, get] = await client.pipeline([["SET", "k", "v"], ["GET", "k"]]);
 * assert.deepEqual([set, get], ["OK", "v"]);
 * client.close();
 * ```
 */
export class RedisClient {
  readonly address: RedisAddress;
  /** Connections made, and commands failed because Redis was unavailable (for metrics). */
  readonly stats = { connects: 0, unavailable: 0 };
  #options: Required<Omit<RedisClientOptions, "limits">> & { limits: RespLimits };
  #connection: Connection | undefined;
  #connecting: Promise<Connection> | undefined;
  #failures = 0;
  #retryAt = 0;
  #lastError = "";
  #closed = false;
  #pending = 0;

  constructor(options: RedisClientOptions) {
    this.address = options.address;
    this.#options = {
      address: options.address,
      connectTimeoutMs: options.connectTimeoutMs ?? 2000,
      commandTimeoutMs: options.commandTimeoutMs ?? 5000,
      minBackoffMs: options.minBackoffMs ?? 100,
      maxBackoffMs: options.maxBackoffMs ?? 2000,
      limits: options.limits ?? {},
      maxPending: options.maxPending ?? 100_000,
    };
  }

  /** `host:port`, for messages. */
  get where(): string {
    const { hostname, port } = this.address;
    return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  }

  /** Whether a connection is up now. */
  get connected(): boolean {
    return this.#connection !== undefined && !this.#connection.broken;
  }

  /** How long until the next connection attempt is allowed, ms (0: now). */
  get retryInMs(): number {
    return Math.max(0, Math.ceil(this.#retryAt - Date.now()));
  }

  /**
   * Sends one command; resolves with its reply. An error reply rejects with its
   * {@link RespError}; an unreachable server with a {@link RedisUnavailableError}.
   */
  command(args: readonly RespArgument[], options: { timeoutMs?: number } = {}): Promise<RespValue> {
    return this.#send(encodeCommand(args), options.timeoutMs, false);
  }

  /**
   * Sends commands back to back in one write; resolves with every reply in order, error replies
   * as {@link RespError} values.
   */
  pipeline(commands: readonly (readonly RespArgument[])[]): Promise<RespValue[]> {
    return Promise.all(commands.map((args) => this.#send(encodeCommand(args), undefined, true)));
  }

  /** Closes the connection; commands in flight fail. */
  close(): void {
    this.#closed = true;
    if (this.#connection) this.#break(this.#connection, "client closed", false);
  }

  async #send(
    bytes: Uint8Array,
    timeoutMs: number | undefined,
    errorsAsValues: boolean,
  ): Promise<RespValue> {
    if (this.#closed) throw new RedisUnavailableError("redis client closed");
    if (this.#pending >= this.#options.maxPending) {
      throw new RedisUnavailableError(
        `redis: ${this.#pending} commands already waiting for replies (the bound)`,
      );
    }
    let connection = this.#connection;
    if (!connection || connection.broken) connection = await this.#connect();
    return await this.#enqueue(connection, bytes, timeoutMs, errorsAsValues);
  }

  #enqueue(
    connection: Connection,
    bytes: Uint8Array,
    timeoutMs: number | undefined,
    errorsAsValues: boolean,
  ): Promise<RespValue> {
    if (connection.broken) {
      return Promise.reject(this.#unavailable(`connection to ${this.where} lost`));
    }
    const { promise, resolve, reject } = Promise.withResolvers<RespValue>();
    this.#pending++;
    connection.inflight.push({
      resolve: (value) => {
        this.#pending--;
        resolve(value);
      },
      reject: (error) => {
        this.#pending--;
        reject(error);
      },
      deadline: Date.now() + (timeoutMs ?? this.#options.commandTimeoutMs),
      errorsAsValues,
    });
    connection.outbox.push(bytes);
    if (!connection.writing) {
      connection.writing = true;
      queueMicrotask(() => void this.#flush(connection));
    }
    return promise;
  }

  async #flush(connection: Connection): Promise<void> {
    try {
      while (connection.outbox.length > 0 && !connection.broken) {
        const joined = concatBytes(connection.outbox.splice(0));
        for (let written = 0; written < joined.length;) {
          written += await connection.conn.write(joined.subarray(written));
        }
      }
    } catch (error) {
      this.#break(connection, `write to ${this.where} failed: ${describe(error)}`, true);
    } finally {
      connection.writing = false;
    }
  }

  #unavailable(reason: string, maybeWritten = false): RedisUnavailableError {
    this.stats.unavailable++;
    return new RedisUnavailableError(`redis unavailable: ${reason}`, {
      maybeWritten,
      retryAfterMs: this.retryInMs,
    });
  }

  #connect(): Promise<Connection> {
    if (this.#connecting) return this.#connecting;
    const wait = this.retryInMs;
    if (wait > 0) {
      return Promise.reject(
        this.#unavailable(`${this.#lastError}; next attempt in ${wait} ms`),
      );
    }
    this.#connecting = this.#open().finally(() => this.#connecting = undefined);
    return this.#connecting;
  }

  async #open(): Promise<Connection> {
    const { address, connectTimeoutMs } = this.#options;
    const timeout = AbortSignal.timeout(connectTimeoutMs);
    let conn: Deno.Conn | undefined;
    let handshaking = false;
    try {
      const connecting: Promise<Deno.Conn> = address.tls
        ? Deno.connectTls({ hostname: address.hostname, port: address.port }).then(async (tls) => {
          // The TLS handshake is lazy (it would run on the first read or write): run it here,
          // within the connect deadline, so that a certificate Deno does not trust, or a port
          // that does not speak TLS, fails the connection rather than its first command. (A
          // handshake abandoned at the deadline is closed, but Deno 2.9 keeps its socket until
          // the server answers or hangs up: its TLS stream waits for the handshake on close.)
          if (timeout.aborted) {
            // Connected too late: the attempt has failed already.
            tls.close();
            throw new Error(`timed out after ${connectTimeoutMs} ms`);
          }
          conn = tls;
          handshaking = true;
          await tls.handshake();
          handshaking = false;
          return tls;
        })
        : Deno.connect({ hostname: address.hostname, port: address.port }).then((tcp) => {
          tcp.setNoDelay(true);
          return tcp;
        });
      conn = await raceTimeout(connecting, timeout, connectTimeoutMs);
      const connection = this.#start(conn);
      const handshake: Promise<RespValue>[] = [];
      const deadline = Math.max(1, connectTimeoutMs);
      if (address.password !== undefined) {
        const auth = address.username !== undefined
          ? ["AUTH", address.username, address.password]
          : ["AUTH", address.password];
        handshake.push(this.#enqueue(connection, encodeCommand(auth), deadline, false));
      }
      if (address.db !== 0) {
        handshake.push(
          this.#enqueue(connection, encodeCommand(["SELECT", address.db]), deadline, false),
        );
      }
      try {
        await Promise.all(handshake);
      } catch (error) {
        const reason = error instanceof RespError
          ? `${
            address.password !== undefined && /AUTH|PASS/i.test(error.message)
              ? "authentication failed"
              : "handshake failed"
          }: ${error.message}`
          : describe(error);
        this.#break(connection, reason, false);
        throw error instanceof RedisUnavailableError ? error : this.#unavailable(reason);
      }
      this.#failures = 0;
      this.#retryAt = 0;
      this.stats.connects++;
      if (this.#closed) {
        this.#break(connection, "client closed", false);
        throw this.#unavailable("redis client closed");
      }
      this.#connection = connection;
      return connection;
    } catch (error) {
      if (error instanceof RedisUnavailableError) {
        this.#backOff(this.#lastError || error.message);
        throw error;
      }
      try {
        conn?.close();
      } catch {
        // Already closed.
      }
      const reason = `cannot connect to ${this.where}: ${
        handshaking ? tlsFailure(error, connectTimeoutMs) : describe(error)
      }`;
      this.#backOff(reason);
      throw this.#unavailable(reason);
    }
  }

  #backOff(reason: string): void {
    this.#lastError = reason;
    const { minBackoffMs, maxBackoffMs } = this.#options;
    const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.#failures);
    this.#failures = Math.min(this.#failures + 1, 30);
    // Full jitter in the upper half: nodes that lost Redis together do not return in step.
    this.#retryAt = Date.now() + delay * (0.5 + Math.random() / 2);
  }

  #start(conn: Deno.Conn): Connection {
    const connection: Connection = {
      conn,
      inflight: [],
      outbox: [],
      writing: false,
      broken: false,
      watchdog: setInterval(() => {
        const oldest = connection.inflight[0];
        if (oldest && Date.now() > oldest.deadline) {
          this.#break(connection, `no reply from ${this.where} in time`, true);
        }
      }, 50),
    };
    Deno.unrefTimer(connection.watchdog);
    void this.#read(connection);
    return connection;
  }

  async #read(connection: Connection): Promise<void> {
    const decoder = new RespDecoder(this.#options.limits);
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (!connection.broken) {
        const count = await connection.conn.read(buffer);
        if (count === null) {
          this.#break(connection, `${this.where} closed the connection`, true);
          return;
        }
        decoder.push(buffer.subarray(0, count));
        let reply: RespValue | undefined;
        while ((reply = decoder.next()) !== undefined) {
          const pending = connection.inflight.shift();
          if (!pending) throw new Error("a reply nobody asked for");
          if (reply instanceof RespError && !pending.errorsAsValues) {
            // A server that is loading its data, busy or failing over is unavailable for now.
            pending.reject(
              TRANSIENT.test(reply.message)
                ? this.#unavailable(`${this.where}: ${reply.message}`)
                : reply,
            );
          } else pending.resolve(reply);
        }
      }
    } catch (error) {
      if (connection.broken) return;
      const limit = error instanceof RangeError;
      const reason = `${limit ? "reply refused" : "reading failed"}: ${describe(error)}`;
      // A refused reply fails its own command with the reason; the rest see a lost connection.
      if (limit) connection.inflight.shift()?.reject(new RangeError(`redis: ${reason}`));
      this.#break(connection, reason, true);
    }
  }

  #break(connection: Connection, reason: string, backOff: boolean): void {
    if (connection.broken) return;
    connection.broken = true;
    clearInterval(connection.watchdog);
    try {
      connection.conn.close();
    } catch {
      // Already closed.
    }
    if (this.#connection === connection) this.#connection = undefined;
    if (backOff && !this.#closed) {
      // Reconnect soon (the first attempt after a working connection waits the least).
      this.#backOff(reason);
    } else {
      this.#lastError = reason;
    }
    const failed = connection.inflight.splice(0);
    for (const pending of failed) pending.reject(this.#unavailable(reason, true));
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    return error.name === "Error" ? error.message : `${error.name}: ${error.message}`;
  }
  return String(error);
}

/**
 * Why a TLS handshake failed, in words an operator can act on: a certificate Deno refused (and,
 * for an unknown issuer, how to trust a private CA), or no handshake at all.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tlsFailure } from "./client.ts";
 * const refused = new Deno.errors.InvalidData("invalid peer certificate: UnknownIssuer");
 * assert.equal(
 *   tlsFailure(refused, 2000),
 *   "TLS: the server's certificate was refused (invalid peer certificate: UnknownIssuer); " +
 *     "for a private CA, start tidings with DENO_CERT=/path/to/ca.pem",
 * );
 * const renamed = new Deno.errors.InvalidData(
 *   'invalid peer certificate: certificate not valid for name "cache"; certificate is only valid for DnsName("redis")',
 * );
 * assert.equal(
 *   tlsFailure(renamed, 2000),
 *   `TLS: the server's certificate was refused (${renamed.message})`,
 * );
 * assert.equal(
 *   tlsFailure(new Error("timed out after 2000 ms"), 2000),
 *   "TLS: no handshake within 2000 ms (is the port a TLS port? rediss:// needs one)",
 * );
 * ```
 */
export function tlsFailure(error: unknown, connectTimeoutMs: number): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/^timed out after/.test(message)) {
    return `TLS: no handshake within ${connectTimeoutMs} ms (is the port a TLS port? rediss:// needs one)`;
  }
  if (/certificate/i.test(message)) {
    // An unknown issuer, or a known name with another key (a CA made anew): the CA to trust.
    const hint = /UnknownIssuer|BadSignature/.test(message)
      ? "; for a private CA, start tidings with DENO_CERT=/path/to/ca.pem"
      : "";
    return `TLS: the server's certificate was refused (${message})${hint}`;
  }
  return `TLS handshake failed: ${describe(error)}`;
}

function raceTimeout<T>(promise: Promise<T>, signal: AbortSignal, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(new Error(`timed out after ${ms} ms`));
      // A connection that arrives late is closed at once.
      promise.then((value) => {
        try {
          (value as { close?: () => void }).close?.();
        } catch {
          // Already closed.
        }
      }, () => {});
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then((value) => {
      signal.removeEventListener("abort", onAbort);
      if (!signal.aborted) resolve(value);
    }, (error) => {
      signal.removeEventListener("abort", onAbort);
      reject(error);
    });
  });
}
