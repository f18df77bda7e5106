/**
 * The RESP client (`lib/redis/`) against a real `redis-server`, and against small fake servers
 * where the test needs the wire under its control (a reply split across reads, no reply at all).
 */

import assert from "node:assert/strict";
import { RedisClient, RedisUnavailableError } from "../lib/redis/client.ts";
import { RespDecoder, RespError, RespLimitError } from "../lib/redis/resp.ts";
import { parseRedisUrl } from "../lib/redis/url.ts";
import { StorageUnavailableError } from "../lib/hub/transport.ts";
import { haveRedis, startRedis } from "./support/redis_server.ts";

const withRedis = { ignore: !haveRedis, sanitizeOps: false, sanitizeResources: false };

async function eventually<T>(
  attempt: () => Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${error}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** A one-connection fake server: `answer` gets each read and the connection. */
function fakeServer(answer: (request: string, conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const buffer = new Uint8Array(4096);
        try {
          while (true) {
            const count = await conn.read(buffer);
            if (count === null) return;
            await answer(new TextDecoder().decode(buffer.subarray(0, count)), conn);
          }
        } catch {
          // closed
        }
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // closed
        }
      }
    },
  };
}

Deno.test("the decoder gives the same replies whichever way the bytes are split across reads", () => {
  const wire = "*3\r\n$5\r\nhello\r\n*2\r\n:-7\r\n$-1\r\n-ERR bad thing\r\n+OK\r\n$0\r\n\r\n*0\r\n";
  const bytes = new TextEncoder().encode(wire);
  for (let cut = 1; cut < bytes.length; cut++) {
    for (const step of [1, cut]) {
      const decoder = new RespDecoder();
      const replies = [];
      for (let at = 0; at < bytes.length; at += step) {
        decoder.push(bytes.subarray(at, Math.min(bytes.length, at + step)));
        let reply;
        while ((reply = decoder.next()) !== undefined) replies.push(reply);
      }
      assert.equal(replies.length, 4, `split every ${step} bytes`);
      const [array, ok, empty, none] = replies as [unknown[], string, string, unknown[]];
      assert.equal(array[0], "hello");
      assert.deepEqual(array[1], [-7, null]);
      assert.ok(array[2] instanceof RespError);
      assert.equal((array[2] as RespError).message, "ERR bad thing");
      assert.deepEqual([ok, empty, none], ["OK", "", []]);
    }
  }
});

Deno.test("the decoder refuses a bulk string over its bound from the header, before buffering it", () => {
  const decoder = new RespDecoder({ maxBulkBytes: 1000 });
  decoder.push(new TextEncoder().encode("$1001\r\nabc"));
  assert.throws(() => decoder.next(), RespLimitError);
  const arrays = new RespDecoder({ maxArrayLength: 10 });
  arrays.push(new TextEncoder().encode("*11\r\n"));
  assert.throws(() => arrays.next(), /array of 11 elements refused/);
  const total = new RespDecoder({ maxBufferBytes: 100 });
  total.push(new TextEncoder().encode("*3\r\n$80\r\n" + "x".repeat(80) + "\r\n"));
  assert.equal(total.next(), undefined);
  assert.throws(
    () => total.push(new TextEncoder().encode("$80\r\n" + "y".repeat(80) + "\r\n")),
    /reply larger than 100 bytes/,
  );
});

Deno.test("the decoder refuses bytes that are not RESP", () => {
  const decoder = new RespDecoder();
  decoder.push(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n"));
  assert.throws(() => decoder.next(), /unknown reply type/);
});

Deno.test(
  "a thousand commands issued together are pipelined and answered in order",
  withRedis,
  async () => {
    const redis = await startRedis();
    const client = new RedisClient({ address: parseRedisUrl(redis.url) });
    try {
      const replies = await Promise.all(
        Array.from({ length: 1000 }, () => client.command(["INCR", "counter"])),
      );
      assert.deepEqual(replies, Array.from({ length: 1000 }, (_, i) => i + 1));
      const piped = await client.pipeline([["SET", "k", "€ and ünïcode"], ["GET", "k"], [
        "INCR",
        "k",
      ], ["GET", "missing"]]);
      assert.equal(piped[0], "OK");
      assert.equal(piped[1], "€ and ünïcode");
      assert.ok(piped[2] instanceof RespError);
      assert.match((piped[2] as RespError).message, /^ERR value is not an integer/);
      assert.equal(piped[3], null);
      assert.equal(client.stats.connects, 1);
    } finally {
      client.close();
      await redis.close();
    }
  },
);

Deno.test(
  "an error reply rejects its own command only; the connection goes on",
  withRedis,
  async () => {
    const redis = await startRedis();
    const client = new RedisClient({ address: parseRedisUrl(redis.url) });
    try {
      const [bad, good] = await Promise.allSettled([
        client.command(["NOSUCHCOMMAND", "x"]),
        client.command(["PING"]),
      ]);
      assert.equal(bad.status, "rejected");
      assert.ok((bad as PromiseRejectedResult).reason instanceof RespError);
      assert.match((bad as PromiseRejectedResult).reason.message, /unknown command/);
      assert.deepEqual(good, { status: "fulfilled", value: "PONG" });
      assert.equal(client.stats.connects, 1);
    } finally {
      client.close();
      await redis.close();
    }
  },
);

Deno.test(
  "AUTH with a wrong password fails with a clear reason; the right one and SELECT work",
  withRedis,
  async () => {
    const redis = await startRedis({ password: "right horse battery" });
    const wrong = new RedisClient({
      address: parseRedisUrl(`redis://:wrong@127.0.0.1:${redis.port}`),
    });
    const right = new RedisClient({ address: parseRedisUrl(`${redis.url}/3`) });
    const db0 = new RedisClient({ address: parseRedisUrl(redis.url) });
    try {
      const error = await wrong.command(["PING"]).catch((error) => error);
      assert.ok(error instanceof RedisUnavailableError);
      assert.ok(error instanceof StorageUnavailableError);
      assert.match(error.message, /authentication failed: WRONGPASS/);
      // Within the backoff, commands fail at once with the last reason.
      const again = await wrong.command(["PING"]).catch((error) => error);
      assert.match(again.message, /authentication failed/);
      assert.equal(await right.command(["SET", "where", "db3"]), "OK");
      assert.equal(await right.command(["GET", "where"]), "db3");
      assert.equal(await db0.command(["GET", "where"]), null);
    } finally {
      wrong.close();
      right.close();
      db0.close();
      await redis.close();
    }
  },
);

Deno.test(
  "a bulk string over the size bound is refused for its command; the client reconnects",
  withRedis,
  async () => {
    const redis = await startRedis();
    const client = new RedisClient({
      address: parseRedisUrl(redis.url),
      limits: { maxBulkBytes: 1024 },
      minBackoffMs: 10,
    });
    try {
      await client.command(["SET", "small", "x".repeat(1024)]);
      await client.command(["SET", "huge", "x".repeat(1025)]);
      assert.equal((await client.command(["GET", "small"]) as string).length, 1024);
      await assert.rejects(
        () => client.command(["GET", "huge"]),
        /bulk string of 1025 bytes refused: longer than the bound of 1024/,
      );
      assert.equal(await eventually(() => client.command(["PING"]), "reconnect"), "PONG");
      assert.equal(client.stats.connects, 2);
    } finally {
      client.close();
      await redis.close();
    }
  },
);

Deno.test("a reply trickling in byte by byte across many reads is decoded whole", async () => {
  const reply = "*2\r\n$11\r\nhello world\r\n:12345\r\n";
  const server = fakeServer(async (_request, conn) => {
    for (const byte of new TextEncoder().encode(reply)) {
      await conn.write(new Uint8Array([byte]));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  });
  const client = new RedisClient({ address: parseRedisUrl(`redis://127.0.0.1:${server.port}`) });
  try {
    assert.deepEqual(await client.command(["ANYTHING"]), ["hello world", 12345]);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("a server that never answers fails the command at its deadline", async () => {
  const server = fakeServer(async () => {});
  const client = new RedisClient({
    address: parseRedisUrl(`redis://127.0.0.1:${server.port}`),
    commandTimeoutMs: 200,
  });
  try {
    const error = await client.command(["PING"]).catch((error) => error);
    assert.ok(error instanceof RedisUnavailableError);
    assert.match(error.message, /no reply from 127\.0\.0\.1:\d+ in time/);
    assert.equal(error.maybeWritten, true);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("a server still loading its data is unavailable for now, said like any other outage", async () => {
  const server = fakeServer(async (_request, conn) => {
    await conn.write(
      new TextEncoder().encode("-LOADING Redis is loading the dataset in memory\r\n"),
    );
  });
  const client = new RedisClient({ address: parseRedisUrl(`redis://127.0.0.1:${server.port}`) });
  try {
    const error = await client.command(["GET", "head"]).catch((error) => error);
    assert.ok(error instanceof RedisUnavailableError);
    assert.equal(
      error.message,
      `redis unavailable: 127.0.0.1:${server.port}: LOADING Redis is loading the dataset in memory`,
    );
    assert.equal(error.maybeWritten, false);
    assert.equal(error.retryAfterSeconds, 1);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("nothing listening: commands fail at once as unavailable, and back off", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const client = new RedisClient({ address: parseRedisUrl(`redis://127.0.0.1:${port}`) });
  try {
    const first = await client.command(["PING"]).catch((error) => error);
    assert.ok(first instanceof RedisUnavailableError);
    assert.match(first.message, /cannot connect to 127\.0\.0\.1:\d+: ConnectionRefused/);
    assert.equal(first.maybeWritten, false);
    assert.ok(client.retryInMs > 0);
    const second = await client.command(["PING"]).catch((error) => error);
    assert.match(second.message, /next attempt in \d+ ms/);
  } finally {
    client.close();
  }
});

Deno.test(
  "Redis restarted: commands fail while it is down and work again when it is back",
  withRedis,
  async () => {
    const redis = await startRedis();
    const client = new RedisClient({ address: parseRedisUrl(redis.url), minBackoffMs: 10 });
    try {
      await client.command(["SET", "kept", "yes"]);
      await redis.stop();
      const error = await client.command(["GET", "kept"]).catch((error) => error);
      assert.ok(error instanceof RedisUnavailableError, String(error));
      await redis.start();
      assert.equal(await eventually(() => client.command(["GET", "kept"]), "after restart"), "yes");
    } finally {
      client.close();
      await redis.close();
    }
  },
);
