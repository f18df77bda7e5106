import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../lib/app/config.ts";

const envOf = (values: Record<string, string>) => (name: string) => values[name];

Deno.test("config defaults are the documented ones", () => {
  const config = loadConfig(envOf({}));
  assert.equal(config.port, 8000);
  assert.equal(config.kvPath, "./data/tidings.kv");
  assert.equal(config.demoFeeds, true);
  assert.equal(config.heartbeatMs, 15_000);
  assert.deepEqual(config.stockSymbols, ["AAPL", "GOOGL", "MSFT"]);
  assert.equal(config.historySize, 1000);
  assert.equal(config.anonymousSubscribers, true);
  assert.equal(config.v8Heap, "default");
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
