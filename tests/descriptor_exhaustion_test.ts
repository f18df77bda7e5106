/**
 * Running out of file descriptors: a server started with `ulimit -n 256` derives its connection
 * limit from it (and prints it), and, flooded past the limit on either listener, stays alive,
 * keeps its subscribers, and answers again once connections close.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type RunningServer, startServer } from "./support/server.ts";
import { openEventStream, publishAccepted } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { waitUntil } from "./support/hub_probe.ts";

const FILE_LIMIT = 256;
const OFF = { TIDINGS_DEMO_FEEDS: "off" };

// Deno lets only --allow-all read /proc, and `deno task test` runs without it: ask the shell.
function shell(script: string): { ok: boolean; text: string } {
  const output = new Deno.Command("sh", { args: ["-c", script], stderr: "null" }).outputSync();
  return { ok: output.success, text: new TextDecoder().decode(output.stdout).trim() };
}

function alive(server: RunningServer): boolean {
  return shell(`kill -0 ${server.pid}`).ok;
}

function openDescriptors(server: RunningServer): number {
  return Number(shell(`ls /proc/${server.pid}/fd | wc -l`).text);
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

for (const direct of [false, true]) {
  const listener = direct ? "the direct listener" : "deno serve";

  Deno.test(`${listener}: the default connection limit is the descriptor limit minus a reserve, printed at start`, async () => {
    const server = await startServer({ direct, fileLimit: FILE_LIMIT, env: OFF });
    try {
      assert.match(
        server.output(),
        /connections: at most 128; descriptor limit 256 \(default 128 /,
      );
    } finally {
      await server.close();
    }
  });

  Deno.test(`${listener}: a connection flood past the descriptor limit does not kill the process; subscribers keep receiving`, async () => {
    // A limit above what the descriptors allow, so that the flood really exhausts them.
    const server = await startServer({
      direct,
      fileLimit: FILE_LIMIT,
      env: { ...OFF, TIDINGS_MAX_CONNECTIONS: "1000" },
    });
    const flood: Deno.Conn[] = [];
    const subscriber = await openEventStream(`${server.url}/.well-known/mercure?topic=flood`);
    try {
      assert.equal(subscriber.response.status, 200);
      const request = new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n");
      for (let i = 0; i < FILE_LIMIT + 100; i++) {
        try {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
          flood.push(conn);
          conn.write(request).catch(() => {});
        } catch {
          break; // the backlog is full
        }
      }
      await waitUntil(
        "the server to run out of descriptors",
        () => /Too many open files/.test(server.output()),
        10_000,
      );
      assert.ok(alive(server), server.output());
      for (const conn of flood.splice(0)) {
        try {
          conn.close();
        } catch { /* closed by the server */ }
      }
      await waitUntil("/healthz to answer again", () => healthy(server.url), 15_000);
      assert.ok(openDescriptors(server) < FILE_LIMIT);
      const token = await mercureToken({ publish: ["*"] });
      await publishAccepted(server.url, token, { topic: "flood", data: "still here" });
      const [event] = await subscriber.waitFor(1, 5000);
      assert.equal(event.data, "still here");
      assert.doesNotMatch(server.output(), /Uncaught/);
    } finally {
      for (const conn of flood) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await subscriber.close();
      await server.close();
    }
  });
}

/** The status of the first response on `conn`, or 0 when it closes without one. */
async function firstStatus(conn: Deno.Conn): Promise<{ status: number; text: string }> {
  let text = "";
  const buffer = new Uint8Array(4096);
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0), text };
}

Deno.test("the direct listener at its default limit refuses a flood with cheap 503s and never nears the descriptor limit", async () => {
  const server = await startServer({ direct: true, fileLimit: FILE_LIMIT, env: OFF });
  const flood: Deno.Conn[] = [];
  try {
    // 128 subscriptions + 16 headroom are served; past that a socket gets a 503 and is closed.
    const request = new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n");
    let peak = 0;
    const answers: Promise<{ status: number; text: string }>[] = [];
    for (let i = 0; i < FILE_LIMIT + 100; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      flood.push(conn);
      await conn.write(request);
      answers.push(firstStatus(conn));
      if (i % 16 === 0) peak = Math.max(peak, openDescriptors(server));
    }
    const results = await Promise.all(answers);
    peak = Math.max(peak, openDescriptors(server));
    const served = results.filter((result) => result.status === 200).length;
    const refused = results.filter((result) => result.status === 503);
    // 144 minus what the test's own fetch pool keeps open (the readiness probe's connection).
    assert.ok(served > 140 && served <= 144, `${served} served`);
    assert.ok(refused.length > 0);
    for (const { text } of refused) {
      assert.match(text, /\r\nretry-after: 5\r\n/);
      assert.match(text, /\r\nx-tidings-refusal: connection limit reached \(144\)\r\n/);
    }
    assert.ok(peak < FILE_LIMIT - 16, `peak ${peak} descriptors`);
    assert.doesNotMatch(server.output(), /Too many open files/);
  } finally {
    for (const conn of flood) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await server.close();
  }
});
