/**
 * `TIDINGS_REDIS_URL`: `redis://[user:pass@]host:port[/db]`, or `rediss://` for TLS. A password
 * alone (`redis://:pass@host`) authenticates as the default user; user and password may be
 * percent-encoded.
 *
 * @module
 */

/** Where and how to connect. */
export interface RedisAddress {
  hostname: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
  /** The logical database to SELECT (0 by default). */
  db: number;
}

/**
 * Parses a Redis URL; throws a `TypeError` saying what is wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRedisUrl } from "./url.ts";
 * assert.deepEqual(parseRedisUrl("redis://app:s%40cret@cache.internal:6380/2"), {
 *   hostname: "cache.internal", port: 6380, tls: false, username: "app", password: "s@cret", db: 2,
 * });
 * assert.equal(parseRedisUrl("rediss://cache.example.com").port, 6379);
 * assert.equal(parseRedisUrl("redis://[::1]:7000").hostname, "::1");
 * assert.throws(() => parseRedisUrl("http://cache"), /redis:\/\/ or rediss:\/\//);
 * ```
 */
export function parseRedisUrl(text: string): RedisAddress {
  const match = /^(rediss?):\/\//i.exec(text);
  if (!match) throw new TypeError("a Redis URL starts with redis:// or rediss://");
  let url: URL;
  try {
    // WHATWG URLs parse the authority of special schemes only: borrow http's.
    url = new URL(`http://${text.slice(match[0].length)}`);
  } catch {
    throw new TypeError("not a valid URL (redis://[user:pass@]host:port[/db])");
  }
  if (url.search || url.hash) throw new TypeError("a Redis URL takes no query or fragment");
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  if (!hostname) throw new TypeError("the URL names no host");
  const path = url.pathname.replace(/^\//, "");
  if (path !== "" && !/^\d{1,5}$/.test(path)) {
    throw new TypeError("the path, if any, is a database number (/0, /1, …)");
  }
  const db = path === "" ? 0 : Number(path);
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new TypeError("bad percent-encoding in the user or password");
    }
  };
  const address: RedisAddress = {
    hostname,
    port: url.port === "" ? 6379 : Number(url.port),
    tls: match[1].toLowerCase() === "rediss",
    db,
  };
  if (url.username) address.username = decode(url.username);
  if (url.password) address.password = decode(url.password);
  if (address.username !== undefined && address.password === undefined) {
    throw new TypeError("a user needs a password (redis://user:pass@host)");
  }
  return address;
}

/**
 * The URL without its password, for logs and messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactRedisUrl } from "./url.ts";
 * assert.equal(redactRedisUrl("redis://app:secret@cache:6379/1"), "redis://app:***@cache:6379/1");
 * ```
 */
export function redactRedisUrl(text: string): string {
  return text.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/i, "$1***@");
}
