/**
 * Settings from environment variables, validated once at start-up. A bad value stops the service
 * with a message that names the variable and the accepted values.
 *
 * @module
 */

import { defaultMaxConnections, openFilesLimit } from "../util/descriptor_limit.ts";

/** The effective settings of one tidings process. */
export interface Config {
  port: number;
  hostname: string;
  kvPath: string | undefined;
  /** `TIDINGS_REDIS_URL`: the Redis every node shares (then no KV store is opened). */
  redisUrl: string | undefined;
  /** `TIDINGS_REDIS_WAIT_REPLICAS`: replicas that must confirm each publish (Redis `WAIT`). */
  redisWaitReplicas: number;
  demoFeeds: boolean;
  heartbeatMs: number;
  retryMs: number;
  feedSpeed: number;
  stockSymbols: string[];
  jwtKey: string | undefined;
  publisherJwtKey: string | undefined;
  subscriberJwtKey: string | undefined;
  jwtAlgorithm: "HS256" | "RS256" | "ES256";
  anonymousSubscribers: boolean;
  historySize: number;
  historyMaxAgeSeconds: number;
  /** Default: the descriptor limit minus a reserve (`descriptor_limit.ts`). */
  maxConnections: number;
  /** The process's soft descriptor limit (RLIMIT_NOFILE), or null when unknown. */
  fileDescriptorLimit: number | null;
  maxConnectionsPerIp: number;
  maxBodyBytes: number;
  maxTopicsPerUpdate: number;
  publishRatePerSecond: number;
  /** Orders, and new games, each client may create per minute (each kind its own budget). */
  createRatePerMinute: number;
  /** Live orders, and live games, each client may have at once (cluster-wide). */
  maxLivePerClient: number;
  /** Live orders / games one isolate produces or stands by for at once. */
  maxLiveOrders: number;
  maxLiveGames: number;
  subscriberBufferBytes: number;
  corsOrigins: string[];
  /** Origins whose pages may publish with the `mercureAuthorization` cookie (see cookie_origin.ts). */
  publishOrigins: string[];
  compression: boolean;
  subscriptionEvents: boolean;
  /** `small`: run V8 with `--optimize-for-size` (less memory per connection, less throughput). */
  v8Heap: "default" | "small";
  logLevel: "debug" | "info" | "warn" | "error";
  /** Unlocks per-topic series of `/metrics` (`Authorization: Bearer …`). */
  metricsToken: string | undefined;
  onDeploy: boolean;
}

export { ConfigError, StartRefusal } from "../util/start_refusal.ts";
import { ConfigError, StartRefusal } from "../util/start_refusal.ts";
import { parseRedisUrl, redactRedisUrl } from "../redis/url.ts";

type Env = (name: string) => string | undefined;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(name, raw, `an integer from ${min} to ${max}`);
  }
  return value;
}

function decimal(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(name, raw, `a number from ${min} to ${max}`);
  }
  return value;
}

function toggle(env: Env, name: string, fallback: boolean): boolean {
  const raw = env(name);
  if (raw === undefined || raw === "") return fallback;
  const value = raw.trim().toLowerCase();
  if (["on", "true", "1", "yes"].includes(value)) return true;
  if (["off", "false", "0", "no"].includes(value)) return false;
  throw new ConfigError(name, raw, "on or off (also true/false, 1/0, yes/no)");
}

function choice<T extends string>(env: Env, name: string, fallback: T, accepted: readonly T[]): T {
  const raw = env(name);
  if (raw === undefined || raw === "") return fallback;
  if (!(accepted as readonly string[]).includes(raw)) {
    throw new ConfigError(name, raw, `one of ${accepted.join(", ")}`);
  }
  return raw as T;
}

function list(env: Env, name: string, fallback: string[], valid: RegExp, what: string): string[] {
  const raw = env(name);
  if (raw === undefined || raw.trim() === "") return fallback;
  const items = raw.split(",").map((item) => item.trim()).filter((item) => item !== "");
  for (const item of items) {
    if (!valid.test(item)) throw new ConfigError(name, raw, what);
  }
  return items;
}

function token(env: Env, name: string): string | undefined {
  const raw = env(name);
  if (raw === undefined || raw === "") return undefined;
  if (!/^[\x21-\x7e]{16,4096}$/.test(raw)) {
    throw new ConfigError(name, raw, "16 to 4096 printable ASCII characters, no spaces", true);
  }
  return raw;
}

const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\.?|\[?[0-9A-Fa-f:.]+\]?)$/;

function host(env: Env): string {
  const raw = env("HOST");
  if (raw === undefined || raw === "") return "0.0.0.0";
  if (raw.length > 253 || !HOST.test(raw)) {
    throw new ConfigError("HOST", raw, "an IP address (0.0.0.0, 127.0.0.1, ::) or a host name");
  }
  return raw;
}

/**
 * `TIDINGS_KV_PATH`: a file path, `:memory:`, or a KV Connect URL (`http://` or `https://`,
 * which needs `DENO_KV_ACCESS_TOKEN`). Unset on Deno Deploy: the app's attached KV database.
 */
function kvStore(env: Env, onDeploy: boolean): string | undefined {
  const raw = env("TIDINGS_KV_PATH");
  if (raw === undefined || raw === "") return onDeploy ? undefined : "./data/tidings.kv";
  const accepted = "a file path, :memory:, or a KV Connect URL (https://… or http://…)";
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(raw) || /^https?:/i.test(raw)) {
    if (!/^https?:\/\/[^\s/]+/i.test(raw) || !URL.canParse(raw)) {
      throw new ConfigError("TIDINGS_KV_PATH", raw, accepted);
    }
    if (!env("DENO_KV_ACCESS_TOKEN")) {
      throw new ConfigError(
        "DENO_KV_ACCESS_TOKEN",
        "",
        `the access token of the KV Connect database that TIDINGS_KV_PATH names (${
          new URL(raw).origin
        })`,
      );
    }
    return raw;
  }
  if (raw.includes("\0")) throw new ConfigError("TIDINGS_KV_PATH", raw, accepted);
  return raw;
}

/** `TIDINGS_REDIS_URL`: `redis://[user:pass@]host:port[/db]` or `rediss://…`; unset: Deno KV. */
function redisUrl(env: Env): string | undefined {
  const raw = env("TIDINGS_REDIS_URL");
  if (raw === undefined || raw === "") return undefined;
  try {
    parseRedisUrl(raw);
  } catch (error) {
    throw new ConfigError(
      "TIDINGS_REDIS_URL",
      redactRedisUrl(raw),
      `redis://[user:pass@]host:port[/db] or rediss://… (${(error as Error).message})`,
    );
  }
  return raw;
}

/**
 * Reads and validates every setting.
 *
 * @throws {ConfigError} naming the first variable with a bad value.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadConfig } from "./config.ts";
 * const config = loadConfig((name) => ({ PORT: "9000" } as Record<string, string>)[name]);
 * assert.equal(config.port, 9000);
 * assert.equal(config.demoFeeds, true);
 * assert.throws(() => loadConfig((name) => name === "PORT" ? "abc" : undefined), {
 *   name: "ConfigError",
 *   variable: "PORT",
 * });
 * ```
 */
export function loadConfig(
  env: Env = (name) => Deno.env.get(name),
  fileDescriptorLimit: number | null = openFilesLimit(env),
): Config {
  // Deno Deploy sets DENO_DEPLOY=true (and DENO_DEPLOYMENT_ID, which Deploy Classic set too).
  const onDeploy = env("DENO_DEPLOYMENT_ID") !== undefined || env("DENO_DEPLOY") === "true";
  const kvPath = kvStore(env, onDeploy);
  return {
    port: integer(env, "PORT", 8000, 0, 65535),
    hostname: host(env),
    kvPath,
    redisUrl: redisUrl(env),
    redisWaitReplicas: integer(env, "TIDINGS_REDIS_WAIT_REPLICAS", 0, 0, 64),
    demoFeeds: toggle(env, "TIDINGS_DEMO_FEEDS", true),
    heartbeatMs: integer(env, "TIDINGS_HEARTBEAT_MS", 15_000, 50, 3_600_000),
    retryMs: integer(env, "TIDINGS_RETRY_MS", 3_000, 0, 3_600_000),
    feedSpeed: decimal(env, "TIDINGS_FEED_SPEED", 1, 0.01, 10_000),
    stockSymbols: list(
      env,
      "TIDINGS_STOCK_SYMBOLS",
      ["AAPL", "GOOGL", "MSFT"],
      /^[A-Z0-9.-]{1,10}$/,
      "comma-separated symbols of 1-10 characters A-Z 0-9 . -",
    ),
    jwtKey: env("TIDINGS_JWT_KEY") || undefined,
    publisherJwtKey: env("TIDINGS_PUBLISHER_JWT_KEY") || undefined,
    subscriberJwtKey: env("TIDINGS_SUBSCRIBER_JWT_KEY") || undefined,
    jwtAlgorithm: choice(env, "TIDINGS_JWT_ALGORITHM", "HS256", ["HS256", "RS256", "ES256"]),
    anonymousSubscribers: toggle(env, "TIDINGS_ANONYMOUS", true),
    historySize: integer(env, "TIDINGS_HISTORY_SIZE", 1000, 1, 1_000_000),
    historyMaxAgeSeconds: integer(env, "TIDINGS_HISTORY_MAX_AGE_S", 86_400, 1, 31_536_000),
    maxConnections: integer(
      env,
      "TIDINGS_MAX_CONNECTIONS",
      defaultMaxConnections(fileDescriptorLimit),
      1,
      1_000_000,
    ),
    fileDescriptorLimit,
    maxConnectionsPerIp: integer(env, "TIDINGS_MAX_CONNECTIONS_PER_IP", 100, 1, 1_000_000),
    maxBodyBytes: integer(env, "TIDINGS_MAX_BODY_BYTES", 65_536, 64, 16_777_216),
    maxTopicsPerUpdate: integer(env, "TIDINGS_MAX_TOPICS_PER_UPDATE", 16, 1, 1000),
    publishRatePerSecond: integer(env, "TIDINGS_PUBLISH_RATE", 0, 0, 10_000_000),
    createRatePerMinute: integer(env, "TIDINGS_CREATE_RATE", 30, 1, 1_000_000),
    maxLivePerClient: integer(env, "TIDINGS_MAX_LIVE_PER_CLIENT", 10, 1, 500),
    maxLiveOrders: integer(env, "TIDINGS_MAX_LIVE_ORDERS", 1000, 1, 1_000_000),
    maxLiveGames: integer(env, "TIDINGS_MAX_LIVE_GAMES", 200, 1, 1_000_000),
    subscriberBufferBytes: integer(
      env,
      "TIDINGS_SUBSCRIBER_BUFFER_BYTES",
      1_048_576,
      4096,
      1 << 30,
    ),
    corsOrigins: list(
      env,
      "TIDINGS_CORS_ORIGINS",
      [],
      /^(\*|https?:\/\/[^\s/]+)$/,
      "* or comma-separated origins like https://app.example.com",
    ),
    publishOrigins: list(
      env,
      "TIDINGS_PUBLISH_ORIGINS",
      [],
      /^(\*|https?:\/\/[^\s/]+)$/,
      "* or comma-separated origins like https://app.example.com",
    ),
    compression: toggle(env, "TIDINGS_COMPRESSION", true),
    subscriptionEvents: toggle(env, "TIDINGS_SUBSCRIPTION_EVENTS", true),
    v8Heap: choice(env, "TIDINGS_V8_HEAP", "default", ["default", "small"]),
    logLevel: choice(env, "TIDINGS_LOG_LEVEL", "info", ["debug", "info", "warn", "error"]),
    metricsToken: token(env, "TIDINGS_METRICS_TOKEN"),
    onDeploy,
  };
}

/**
 * Stops the start for a {@link StartRefusal}: prints its message and exits with code 2. Any other
 * error is thrown on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseToStart } from "./config.ts";
 * assert.throws(() => refuseToStart(new TypeError("a bug")), TypeError);
 * ```
 */
export function refuseToStart(error: unknown): never {
  if (error instanceof StartRefusal) {
    console.error(`tidings: ${error.message}`);
    Deno.exit(2);
  }
  throw error;
}

/**
 * Loads the settings, or prints the bad one (naming the variable and the accepted values) and
 * exits with code 2: what a service does at start-up.
 */
export function loadConfigOrExit(env?: Env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    return refuseToStart(error);
  }
}
