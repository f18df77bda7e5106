import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../lib/app/config.ts";

const envOf = (values: Record<string, string>) => (name: string) => values[name];

Deno.test("config defaults are the documented ones, every setting of them", () => {
  // The whole object: a setting added without its documented default fails here. (No descriptor
  // limit known: the connection limit falls back to 10,000; with one, see the next test.)
  assert.deepEqual(loadConfig(envOf({}), null), {
    port: 8000,
    hostname: "0.0.0.0",
    kvPath: "./data/tidings.kv",
    redisUrl: undefined,
    redisWaitReplicas: 0,
    demoFeeds: true,
    heartbeatMs: 15_000,
    retryMs: 3000,
    feedSpeed: 1,
    stockSymbols: ["AAPL", "GOOGL", "MSFT"],
    jwtKey: undefined,
    publisherJwtKey: undefined,
    subscriberJwtKey: undefined,
    jwtAlgorithm: "HS256",
    anonymousSubscribers: true,
    historySize: 1000,
    historyMaxAgeSeconds: 86_400,
    maxConnections: 10_000,
    fileDescriptorLimit: null,
    maxConnectionsPerIp: 100,
    maxBodyBytes: 65_536,
    maxTopicsPerUpdate: 16,
    publishRatePerSecond: 0,
    createRatePerMinute: 30,
    maxLivePerClient: 10,
    maxLiveOrders: 1000,
    maxLiveGames: 200,
    subscriberBufferBytes: 1_048_576,
    corsOrigins: [],
    publishOrigins: [],
    compression: true,
    subscriptionEvents: true,
    v8Heap: "default",
    logLevel: "info",
    metricsToken: undefined,
    onDeploy: false,
  });
});

Deno.test("the default connection limit is the descriptor limit less a reserve", () => {
  assert.equal(loadConfig(envOf({}), 20_000).maxConnections, 19_000);
  assert.equal(loadConfig(envOf({}), 256).maxConnections, 128);
  assert.equal(loadConfig(envOf({ TIDINGS_FILE_LIMIT: "4096" })).maxConnections, 4096 - 205); // 5 % of it
});

Deno.test("config names the variable and the accepted values of a bad setting", () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: "eighty" }, /PORT="eighty" is not valid: expected an integer from 0 to 65535/],
    [{ PORT: "70000" }, /PORT="70000"/],
    [
      { TIDINGS_DEMO_FEEDS: "maybe" },
      /TIDINGS_DEMO_FEEDS="maybe" is not valid: expected on or off/,
    ],
    [{ TIDINGS_HEARTBEAT_MS: "-5" }, /TIDINGS_HEARTBEAT_MS/],
    [{ TIDINGS_JWT_ALGORITHM: "none" }, /expected one of HS256, RS256, ES256/],
    [
      { TIDINGS_V8_HEAP: "tiny" },
      /TIDINGS_V8_HEAP="tiny" is not valid: expected one of default, small/,
    ],
    [{ TIDINGS_STOCK_SYMBOLS: "AAPL,bad symbol" }, /TIDINGS_STOCK_SYMBOLS/],
    [{ TIDINGS_CORS_ORIGINS: "example.com" }, /TIDINGS_CORS_ORIGINS/],
    [
      { TIDINGS_FEED_SPEED: "0" },
      /TIDINGS_FEED_SPEED="0" is not valid: expected a number from 0.01/,
    ],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => loadConfig(envOf(env)), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("config accepts :memory: KV and leaves the KV path to Deno Deploy there", () => {
  assert.equal(loadConfig(envOf({ TIDINGS_KV_PATH: ":memory:" })).kvPath, ":memory:");
  assert.equal(loadConfig(envOf({ DENO_DEPLOYMENT_ID: "abc" })).kvPath, undefined);
  assert.equal(loadConfig(envOf({ TIDINGS_DEMO_FEEDS: "off" })).demoFeeds, false);
});

Deno.test("the start task refuses a bad setting with exit code 2 before starting anything", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-env", "--allow-read", "--allow-run", "scripts/start.ts"],
    cwd: new URL("../", import.meta.url).pathname,
    env: { PORT: "not-a-port" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 2);
  assert.match(new TextDecoder().decode(output.stderr), /PORT="not-a-port" is not valid/);
});

/** One bad value per setting, and the accepted values its refusal must name. */
const BAD_VALUES: Record<string, [string, RegExp]> = {
  PORT: ["eighty", /an integer from 0 to 65535/],
  HOST: ["not a host", /an IP address \(0\.0\.0\.0, 127\.0\.0\.1, ::\) or a host name/],
  TIDINGS_KV_PATH: ["ftp://kv.example.com/db", /a file path, :memory:, or a KV Connect URL/],
  DENO_KV_ACCESS_TOKEN: ["", /the access token of the KV Connect database/],
  TIDINGS_REDIS_URL: ["http://cache:6379", /redis:\/\/\[user:pass@\]host:port\[\/db\] or rediss:/],
  TIDINGS_REDIS_WAIT_REPLICAS: ["all", /an integer from 0 to 64/],
  TIDINGS_DEMO_FEEDS: ["maybe", /on or off/],
  TIDINGS_HEARTBEAT_MS: ["10", /an integer from 50 to 3600000/],
  TIDINGS_RETRY_MS: ["soon", /an integer from 0 to 3600000/],
  TIDINGS_FEED_SPEED: ["fast", /a number from 0.01 to 10000/],
  TIDINGS_STOCK_SYMBOLS: ["aapl", /comma-separated symbols/],
  TIDINGS_JWT_ALGORITHM: ["HS512", /one of HS256, RS256, ES256/],
  TIDINGS_ANONYMOUS: ["nobody", /on or off/],
  TIDINGS_HISTORY_SIZE: ["0", /an integer from 1 to 1000000/],
  TIDINGS_HISTORY_MAX_AGE_S: ["1d", /an integer from 1 to 31536000/],
  TIDINGS_MAX_CONNECTIONS: ["-1", /an integer from 1 to 1000000/],
  TIDINGS_MAX_CONNECTIONS_PER_IP: ["1e3", /an integer from 1 to 1000000/],
  TIDINGS_MAX_BODY_BYTES: ["1", /an integer from 64 to 16777216/],
  TIDINGS_MAX_TOPICS_PER_UPDATE: ["1001", /an integer from 1 to 1000/],
  TIDINGS_PUBLISH_RATE: ["lots", /an integer from 0 to 10000000/],
  TIDINGS_SUBSCRIBER_BUFFER_BYTES: ["1024", /an integer from 4096 to 1073741824/],
  TIDINGS_CORS_ORIGINS: ["example.com", /\* or comma-separated origins/],
  TIDINGS_PUBLISH_ORIGINS: ["evil.example", /\* or comma-separated origins/],
  TIDINGS_FILE_LIMIT: ["many", /a positive integer/],
  TIDINGS_CREATE_RATE: ["0", /an integer from 1 to 1000000/],
  TIDINGS_MAX_LIVE_PER_CLIENT: ["ten", /an integer from 1 to 500/],
  TIDINGS_MAX_LIVE_ORDERS: ["-5", /an integer from 1 to 1000000/],
  TIDINGS_MAX_LIVE_GAMES: ["1.5", /an integer from 1 to 1000000/],
  TIDINGS_COMPRESSION: ["gzip", /on or off/],
  TIDINGS_SUBSCRIPTION_EVENTS: ["sometimes", /on or off/],
  TIDINGS_V8_HEAP: ["tiny", /one of default, small/],
  TIDINGS_LOG_LEVEL: ["verbose", /one of debug, info, warn, error/],
  TIDINGS_METRICS_TOKEN: ["short", /16 to 4096 printable ASCII characters/],
};

/** Settings checked elsewhere at start (keys import in lib/auth_keys.ts) or that only select. */
const CHECKED_ELSEWHERE = new Set([
  "TIDINGS_JWT_KEY",
  "TIDINGS_PUBLISHER_JWT_KEY",
  "TIDINGS_SUBSCRIBER_JWT_KEY",
  "DENO_DEPLOY",
  "DENO_DEPLOYMENT_ID",
]);

Deno.test("every setting refuses a bad value, naming the variable and the accepted values", () => {
  const source = Deno.readTextFileSync(new URL("../lib/app/config.ts", import.meta.url));
  const read = new Set(
    [...source.matchAll(/"((?:TIDINGS|DENO)_[A-Z0-9_]+|PORT|HOST)"/g)].map((match) => match[1]),
  );
  for (const variable of read) {
    assert.ok(
      Object.hasOwn(BAD_VALUES, variable) || CHECKED_ELSEWHERE.has(variable),
      `${variable} is read by lib/config.ts: add a bad value for it to BAD_VALUES`,
    );
  }
  for (const [variable, [value, accepted]] of Object.entries(BAD_VALUES)) {
    // The access token is only required with a KV Connect URL.
    const env: Record<string, string> = variable === "DENO_KV_ACCESS_TOKEN"
      ? { TIDINGS_KV_PATH: "https://kv.example.com" }
      : { [variable]: value };
    assert.throws(() => loadConfig(envOf(env)), (error: unknown) => {
      assert.ok(error instanceof ConfigError, `${variable}: ${error}`);
      assert.equal(error.variable, variable);
      assert.match(error.message, new RegExp(`^${variable}=.* is not valid: expected `));
      assert.match(error.message, accepted);
      return true;
    });
  }
});

Deno.test("a bad metrics token is refused without printing it", () => {
  assert.throws(
    () => loadConfig(envOf({ TIDINGS_METRICS_TOKEN: "has a space in it, 30 chars.." })),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(
        error.message,
        "TIDINGS_METRICS_TOKEN=(a secret of 29 characters) is not valid: expected 16 to 4096 " +
          "printable ASCII characters, no spaces",
      );
      return true;
    },
  );
  const token = "a-metrics-token-of-32-characters";
  assert.equal(loadConfig(envOf({ TIDINGS_METRICS_TOKEN: token })).metricsToken, token);
});

Deno.test("TIDINGS_KV_PATH takes file paths, :memory: and KV Connect URLs; Deno Deploy uses its own KV", () => {
  const kv = (env: Record<string, string>) => loadConfig(envOf(env)).kvPath;
  assert.equal(kv({ TIDINGS_KV_PATH: "/var/lib/tidings/hub.kv" }), "/var/lib/tidings/hub.kv");
  assert.equal(
    kv({ TIDINGS_KV_PATH: "https://kv.example.com/db", DENO_KV_ACCESS_TOKEN: "t" }),
    "https://kv.example.com/db",
  );
  assert.equal(
    kv({ TIDINGS_KV_PATH: "http://127.0.0.1:4512", DENO_KV_ACCESS_TOKEN: "t" }),
    "http://127.0.0.1:4512",
  );
  assert.throws(() => kv({ TIDINGS_KV_PATH: "https://", DENO_KV_ACCESS_TOKEN: "t" }), ConfigError);
  assert.equal(kv({ DENO_DEPLOY: "true" }), undefined);
  assert.equal(
    kv({
      DENO_DEPLOY: "true",
      TIDINGS_KV_PATH: "https://kv.example.com",
      DENO_KV_ACCESS_TOKEN: "t",
    }),
    "https://kv.example.com",
  );
  assert.equal(loadConfig(envOf({ DENO_DEPLOY: "true" })).onDeploy, true);
  assert.equal(loadConfig(envOf({ HOST: "::" })).hostname, "::");
  assert.equal(loadConfig(envOf({ HOST: "localhost" })).hostname, "localhost");
});

Deno.test("TIDINGS_REDIS_URL takes redis:// and rediss:// URLs, and never prints a password it refuses", () => {
  const redis = (env: Record<string, string>) => loadConfig(envOf(env));
  assert.equal(redis({}).redisUrl, undefined);
  assert.equal(redis({}).redisWaitReplicas, 0);
  assert.equal(
    redis({ TIDINGS_REDIS_URL: "rediss://app:pw@cache.example.com:6380/2" }).redisUrl,
    "rediss://app:pw@cache.example.com:6380/2",
  );
  assert.equal(redis({ TIDINGS_REDIS_WAIT_REPLICAS: "1" }).redisWaitReplicas, 1);
  assert.throws(
    () => redis({ TIDINGS_REDIS_URL: "redis://app:hunter2@cache/db-one" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.doesNotMatch(error.message, /hunter2/);
      assert.match(error.message, /redis:\/\/app:\*\*\*@cache\/db-one.*database number/);
      return true;
    },
  );
});
