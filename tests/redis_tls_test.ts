/**
 * `TIDINGS_REDIS_URL=rediss://…` against a real `redis-server` that listens for TLS only, with a
 * certificate from a throwaway CA (`tests/support/redis_server.ts` makes both with `openssl`):
 * a node that trusts the CA through `DENO_CERT` works end to end, one that does not refuses to
 * start saying why, and the RESP client names what went wrong in the TLS handshake.
 */

import assert from "node:assert/strict";
import { startServer } from "./support/server.ts";
import { openSubscribed, publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import {
  haveRedis,
  haveRedisTls,
  makeTestCertificates,
  startRedis,
} from "./support/redis_server.ts";
import { RedisClient, RedisUnavailableError } from "../lib/redis/client.ts";
import { parseRedisUrl } from "../lib/redis/url.ts";
import { serverPermissions } from "../scripts/start.ts";

const withTls = { ignore: !haveRedisTls(), sanitizeOps: false, sanitizeResources: false };
const withRedis = { ignore: !haveRedis, sanitizeOps: false, sanitizeResources: false };
const HUB = "/.well-known/mercure";
const mainPath = new URL("../main.ts", import.meta.url).pathname;
const root = new URL("../", import.meta.url).pathname;

/** What Deno says of a certificate whose issuer it does not trust, and what tidings adds. */
const UNTRUSTED = "TLS: the server's certificate was refused (invalid peer certificate: " +
  "UnknownIssuer); for a private CA, start tidings with DENO_CERT=/path/to/ca.pem";

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string) {
  const deadline = Date.now() + 20_000;
  while (true) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${value}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test(
  "a node on rediss:// that trusts the private CA through DENO_CERT is ready, publishes and delivers, reaching Redis over TLS only",
  withTls,
  async () => {
    const redis = await startRedis({ tls: true });
    const kvDir = await Deno.makeTempDir({ prefix: "tidings-test-tls-" });
    // Two isolates: DENO_CERT holds for every isolate of deno serve --parallel.
    const node = await startServer({
      env: {
        TIDINGS_REDIS_URL: redis.url,
        DENO_CERT: redis.tls!.caFile,
        TIDINGS_KV_PATH: `${kvDir}/hub.kv`,
        TIDINGS_DEMO_FEEDS: "off",
      },
      parallel: 2,
    });
    try {
      assert.equal(redis.url, `rediss://localhost:${redis.port}`);
      const ready = await fetch(`${node.url}/readyz`);
      assert.deepEqual([ready.status, await ready.text()], [200, "ready\n"]);

      const stream = await openSubscribed(`${node.url}${HUB}?topic=secured`);
      try {
        const token = await mercureToken({ publish: ["secured"] });
        const published = await publish(node.url, token, { topic: "secured", data: "over TLS" });
        assert.equal(published.status, 200, published.body);
        const [event] = await stream.waitFor(1);
        assert.deepEqual([event.data, event.lastEventId], ["over TLS", published.body]);
      } finally {
        await stream.close();
      }

      // Redis has no plain listener at all: every connection came in on the TLS port, among
      // them each isolate's log follower (XREAD BLOCK on a connection of its own).
      assert.deepEqual(await redis.command(["CONFIG", "GET", "port"]), ["port", "0"]);
      assert.deepEqual(await redis.command(["CONFIG", "GET", "tls-port"]), [
        "tls-port",
        String(redis.port),
      ]);
      const clients = await until(
        async () =>
          String(await redis.command(["CLIENT", "LIST"])).trim().split("\n")
            .filter((line) => !line.includes(" cmd=client|list ")),
        (lines) => lines.filter((line) => / flags=b .* cmd=xread /.test(line)).length === 2,
        "one log follower per isolate",
      );
      for (const line of clients) {
        assert.match(line, new RegExp(` laddr=127\\.0\\.0\\.1:${redis.port} `));
      }
    } finally {
      await node.close();
      await redis.close();
      await Deno.remove(kvDir, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "a running node whose Redis comes back with a certificate from another CA answers /readyz and publishes 503 naming it, and works again once the trusted one is back",
  withTls,
  async () => {
    const redis = await startRedis({ tls: true });
    const tls = redis.tls!;
    const node = await startServer({
      env: { TIDINGS_REDIS_URL: redis.url, DENO_CERT: tls.caFile, TIDINGS_DEMO_FEEDS: "off" },
    });
    const trusted = await Deno.makeTempDir({ prefix: "tidings-test-tls-" });
    try {
      const token = await mercureToken({ publish: ["secured"] });
      assert.equal(
        (await publish(node.url, token, { topic: "secured", data: "before" })).status,
        200,
      );
      // Redis restarts with a new CA's certificate; the node trusts only the first CA.
      for (const file of [tls.caFile, tls.certFile, tls.keyFile]) {
        await Deno.copyFile(file, `${trusted}/${file.split("/").at(-1)}`);
      }
      await redis.stop();
      await makeTestCertificates(tls.caFile.slice(0, tls.caFile.lastIndexOf("/")), "another CA");
      await redis.start();
      const reason = `redis unavailable: cannot connect to localhost:${redis.port}: ` +
        escape(UNTRUSTED);
      // (While Redis restarts, /readyz may first give another reason: a lost connection.)
      await until(
        async () => {
          const response = await fetch(`${node.url}/readyz`);
          return `${response.status} ${await response.text()}`;
        },
        (answer) =>
          new RegExp(`^503 not ready: ${reason}(; next attempt in \\d+ ms)?\\n$`).test(answer),
        "/readyz to name the refused certificate",
      );
      const refused = await publish(node.url, token, { topic: "secured", data: "refused" });
      assert.equal(refused.status, 503);
      assert.match(
        refused.body,
        new RegExp(`^${reason}(; next attempt in \\d+ ms)?: publish again\\n$`),
      );
      assert.match(refused.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
      // The trusted certificate back: the node reconnects by itself.
      await redis.stop();
      for (const file of [tls.caFile, tls.certFile, tls.keyFile]) {
        await Deno.copyFile(`${trusted}/${file.split("/").at(-1)}`, file);
      }
      await redis.start();
      await until(
        async () => (await fetch(`${node.url}/readyz`).then((r) => r.text())),
        (text) => text === "ready\n",
        "/readyz ready again",
      );
      const stream = await openSubscribed(`${node.url}${HUB}?topic=secured`);
      try {
        const after = await publish(node.url, token, { topic: "secured", data: "after" });
        assert.equal(after.status, 200, after.body);
        const [event] = await stream.waitFor(1);
        assert.deepEqual([event.data, event.lastEventId], ["after", after.body]);
      } finally {
        await stream.close();
      }
    } finally {
      await node.close();
      await redis.close();
      await Deno.remove(trusted, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "a node on rediss:// that does not trust the CA refuses to start with code 2, naming the refused certificate and DENO_CERT",
  withTls,
  async () => {
    const redis = await startRedis({ tls: true });
    try {
      // The node's environment is the test's without DENO_CERT, whatever the test runs under.
      const env = Deno.env.toObject();
      delete env.DENO_CERT;
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "serve",
          "--port=0",
          "--host=127.0.0.1",
          ...serverPermissions(":memory:"),
          mainPath,
        ],
        cwd: root,
        clearEnv: true,
        env: {
          ...env,
          NO_COLOR: "1",
          TIDINGS_REDIS_URL: redis.url,
          TIDINGS_KV_PATH: ":memory:",
          TIDINGS_DEMO_FEEDS: "off",
          TIDINGS_LOG_LEVEL: "warn",
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const result = await child.output();
      clearTimeout(timer);
      const decoder = new TextDecoder();
      const output = decoder.decode(result.stdout) + decoder.decode(result.stderr);
      assert.equal(result.code, 2, output);
      const where = `localhost:${redis.port}`;
      assert.match(
        output,
        new RegExp(
          `^tidings: cannot reach Redis at rediss://${escape(where)} \\(redis unavailable: ` +
            `cannot connect to ${escape(where)}: ${
              escape(UNTRUSTED)
            }(; next attempt in \\d+ ms)?\\): ` +
            "check TIDINGS_REDIS_URL, or unset it to use the Deno KV store\\n$",
        ),
      );
    } finally {
      await redis.close();
    }
  },
);

Deno.test(
  "a client on rediss:// to a server whose CA Deno does not trust fails at once as unavailable, naming the certificate, and backs off without counting a connection",
  withTls,
  async () => {
    const redis = await startRedis({ tls: true });
    const client = new RedisClient({ address: parseRedisUrl(redis.url) });
    try {
      const first = await client.command(["PING"]).catch((error) => error);
      assert.ok(first instanceof RedisUnavailableError, String(first));
      assert.equal(
        first.message,
        `redis unavailable: cannot connect to localhost:${redis.port}: ${UNTRUSTED}`,
      );
      assert.equal(first.maybeWritten, false);
      assert.equal(client.stats.connects, 0);
      assert.equal(client.connected, false);
      assert.ok(client.retryInMs > 0);
      const second = await client.command(["PING"]).catch((error) => error);
      assert.ok(second instanceof RedisUnavailableError, String(second));
      assert.match(
        second.message,
        new RegExp(
          `^redis unavailable: cannot connect to localhost:${redis.port}: ${
            escape(UNTRUSTED)
          }; next attempt in \\d+ ms$`,
        ),
      );
    } finally {
      client.close();
      await redis.close();
    }
  },
);

Deno.test(
  "a client on rediss:// to a port that speaks no TLS gives up at the connect deadline, saying no handshake came",
  withRedis,
  async () => {
    const redis = await startRedis();
    const client = new RedisClient({
      address: parseRedisUrl(`rediss://127.0.0.1:${redis.port}`),
      connectTimeoutMs: 300,
    });
    try {
      const error = await client.command(["PING"]).catch((error) => error);
      assert.ok(error instanceof RedisUnavailableError, String(error));
      assert.equal(
        error.message,
        `redis unavailable: cannot connect to 127.0.0.1:${redis.port}: ` +
          "TLS: no handshake within 300 ms (is the port a TLS port? rediss:// needs one)",
      );
      assert.equal(client.stats.connects, 0);
    } finally {
      client.close();
      await redis.close();
    }
  },
);
