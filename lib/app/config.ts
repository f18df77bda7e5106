/**
 * Settings from environment variables, validated once at start-up. A bad value stops the service
 * with a message that names the variable and the accepted values.
 *
 * @module
 */

/** The effective settings of one tidings process. */
export interface Config {
  port: number;
  hostname: string;
  kvPath: string | undefined;
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
  maxConnections: number;
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
  compression: boolean;
  subscriptionEvents: boolean;
  /** `small`: run V8 with `--optimize-for-size` (less memory per connection, less throughput). */
  v8Heap: "default" | "small";
  logLevel: "debug" | "info" | "warn" | "error";
  onDeploy: boolean;
}

/** A setting with a bad value; the message names the variable and what it accepts. */
export class ConfigError extends Error {
  /**
   * @example
   * ```ts
   * import { ConfigError } from "./config.ts";
   * const error = new ConfigError("PORT", "abc", "an integer from 0 to 65535");
   * console.assert(error.message.includes("PORT"));
   * ```
   */
  constructor(readonly variable: string, value: string, accepted: string) {
    super(`${variable}=${JSON.stringify(value)} is not valid: expected ${accepted}`);
    this.name = "ConfigError";
  }
}

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

/**
 * Reads and validates every setting.
 *
 * @throws {ConfigError} naming the first variable with a bad value.
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * const config = loadConfig((name) => ({ PORT: "9000" } as Record<string, string>)[name]);
 * console.assert(config.port === 9000 && config.demoFeeds);
 * ```
 */
export function loadConfig(env: Env = (name) => Deno.env.get(name)): Config {
  const onDeploy = env("DENO_DEPLOYMENT_ID") !== undefined;
  const kvRaw = env("TIDINGS_KV_PATH");
  const kvPath = onDeploy && !kvRaw ? undefined : kvRaw || "./data/tidings.kv";
  return {
    port: integer(env, "PORT", 8000, 0, 65535),
    hostname: env("HOST") || "0.0.0.0",
    kvPath,
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
    maxConnections: integer(env, "TIDINGS_MAX_CONNECTIONS", 20_000, 1, 1_000_000),
    maxConnectionsPerIp: integer(env, "TIDINGS_MAX_CONNECTIONS_PER_IP", 20_000, 1, 1_000_000),
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
    compression: toggle(env, "TIDINGS_COMPRESSION", true),
    subscriptionEvents: toggle(env, "TIDINGS_SUBSCRIPTION_EVENTS", true),
    v8Heap: choice(env, "TIDINGS_V8_HEAP", "default", ["default", "small"]),
    logLevel: choice(env, "TIDINGS_LOG_LEVEL", "info", ["debug", "info", "warn", "error"]),
    onDeploy,
  };
}

/**
 * Loads the settings, or prints the bad one (naming the variable and the accepted values) and
 * exits with code 2: what a service does at start-up.
 *
 * @example
 * ```ts
 * import { loadConfigOrExit } from "./config.ts";
 * const config = loadConfigOrExit((name) => ({ PORT: "8080" } as Record<string, string>)[name]);
 * console.assert(config.port === 8080);
 * ```
 */
export function loadConfigOrExit(env?: Env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`tidings: ${error.message}`);
      Deno.exit(2);
    }
    throw error;
  }
}
