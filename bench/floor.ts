/**
 * The memory floor per idle SSE connection in Deno itself, to read scenario 4 against: the same
 * clients as the bench hold N connections to (a) a minimal `Deno.serve` SSE handler and (b) a
 * minimal hand-written HTTP/1.1 server on `Deno.listen`, and the server's RSS is weighed.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-run bench/floor.ts [--connections=19000]
 * ```
 *
 * The servers are this file run with `--serve=deno-serve` or `--serve=listen`. Both also take an
 * nchan-style `POST` (body = event data) and write it to every open stream, so the bench runs its
 * live scenarios against them too (targets `floor-serve`, `floor-listen`): Deno's own floor.
 *
 * @module
 */

import { treeRssBytes } from "./proc_stats.ts";
import { WorkerPool } from "./worker_pool.ts";

const HOST = "127.0.0.1";
const encoder = new TextEncoder();

/**
 * A bare `Deno.serve` event stream. `POST` broadcasts its body as one `data:` event to every open
 * stream (one enqueue each, no log, no matching) and answers `201`: the floor of a publish
 * fanned out on `Deno.serve`, for the bench's live scenarios. A form `POST` to
 * `/.well-known/mercure` is answered `200` with an id, as tidings answers it: the HTTP floor of
 * `bench/cluster.ts`'s durable scenario.
 */
function serveWithDenoServe(port: number): void {
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  let published = 0;
  Deno.serve({ hostname: HOST, port, onListen: () => {} }, async (request) => {
    if (request.method === "POST") {
      const body = await request.text();
      // A Mercure-style form publish (the cluster bench's durable floor) is answered like tidings
      // answers one: 200 with an id. Anything else is an nchan-style publish: 201.
      const mercure = new URL(request.url).pathname === "/.well-known/mercure";
      const data = mercure ? new URLSearchParams(body).get("data") ?? "" : body;
      const chunk = encoder.encode(`data: ${data}\n\n`);
      for (const controller of streams) controller.enqueue(chunk);
      return mercure
        ? new Response(`floor-${++published}`, { status: 200 })
        : new Response(null, { status: 201 });
    }
    return eventStream(streams);
  });
}

/**
 * A bare event-stream response: a comment, then whatever is enqueued to its controller, which
 * stays in `streams` until the client leaves.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventStream } from "./floor.ts";
 * const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
 * const response = eventStream(streams);
 * assert.equal(streams.size, 1);
 * const reader = response.body!.getReader();
 * assert.equal(new TextDecoder().decode((await reader.read()).value), ": hi\n\n");
 * await reader.cancel();
 * assert.equal(streams.size, 0);
 * ```
 */
export function eventStream(streams: Set<ReadableStreamDefaultController<Uint8Array>>): Response {
  let own: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => {
      own = controller;
      streams.add(controller);
      controller.enqueue(encoder.encode(": hi\n\n"));
    },
    cancel: () => void streams.delete(own),
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) {
      return i + 1;
    }
  }
  return -1;
}

/**
 * A bare HTTP/1.1 server on `Deno.listen`: a `GET` gets an event-stream head and stays open; a
 * `POST` (keep-alive, `Content-Length` body) is written as one chunk to every open stream (one
 * socket write each, not awaited) and answered `201`.
 */
async function serveWithListen(port: number): Promise<void> {
  const head = encoder.encode(
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6\r\n: hi\n\n\r\n",
  );
  const created = encoder.encode("HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n");
  const streams = new Set<Deno.Conn>();
  const decoder = new TextDecoder();
  const serve = async (conn: Deno.Conn) => {
    // 4 KB while reading requests, as tidings' direct listener reads; dropped once a stream is
    // open (a bigger buffer kept per stream would be weighed as "the floor").
    let buffer = new Uint8Array(4096);
    let pending = new Uint8Array(0);
    while (true) {
      const read = await conn.read(buffer);
      if (read === null) break;
      const joined = new Uint8Array(pending.length + read);
      joined.set(pending);
      joined.set(buffer.subarray(0, read), pending.length);
      pending = joined;
      while (true) {
        const headEnd = indexOfHeadEnd(pending);
        if (headEnd < 0) break;
        const text = decoder.decode(pending.subarray(0, headEnd));
        if (text.startsWith("GET")) {
          await conn.write(head);
          streams.add(conn);
          buffer = pending = new Uint8Array(0);
          const small = new Uint8Array(16);
          while ((await conn.read(small)) !== null) {
            // wait for the client to leave
          }
          streams.delete(conn);
          return;
        }
        const length = Number(/content-length:\s*(\d+)/i.exec(text)?.[1] ?? 0);
        if (pending.length < headEnd + length) break;
        const event = encoder.encode(
          `data: ${decoder.decode(pending.subarray(headEnd, headEnd + length))}\n\n`,
        );
        pending = pending.slice(headEnd + length);
        const chunk = new Uint8Array([
          ...encoder.encode(`${event.length.toString(16)}\r\n`),
          ...event,
          13,
          10,
        ]);
        for (const stream of streams) stream.write(chunk).catch(() => streams.delete(stream));
        await conn.write(created);
      }
    }
    conn.close();
  };
  // The listen queue tidings' direct listener uses (Deno's default is 511).
  for await (const conn of Deno.listen({ hostname: HOST, port, tcpBacklog: 4096 })) {
    serve(conn).catch(() => {
      streams.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    });
  }
}

async function weigh(kind: string, port: number, connections: number): Promise<string> {
  const self = new URL(import.meta.url).pathname;
  const script = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      script,
      "sh",
      Deno.execPath(),
      "run",
      "--allow-net",
      self,
      `--serve=${kind}`,
      `--port=${port}`,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const pool = WorkerPool.spawn(Math.max(2, Math.ceil(connections / 9000)));
  try {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const before = await treeRssBytes(child.pid);
    const workers = pool.workers.length;
    const opened = await Promise.all(
      pool.workers.map((worker, i) =>
        worker.call<{ opened: number }>({
          op: "subscribe",
          host: HOST,
          port,
          groups: [{
            path: "/",
            topic: 0,
            count: Math.floor(connections / workers) + (i < connections % workers ? 1 : 0),
          }],
          concurrency: 64,
          bufferBytes: 4096,
          timeoutMs: 60_000,
        })
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const after = await treeRssBytes(child.pid);
    const open = opened.reduce((sum, o) => sum + o.opened, 0);
    const perConnection = (after - before) / open / 1024;
    return `| ${kind} | ${open} | ${(before / 1048576).toFixed(1)} | ${
      (after / 1048576).toFixed(1)
    } | ${perConnection.toFixed(2)} |`;
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await pool.broadcast({ op: "close" }).catch(() => {});
    await pool.stop();
  }
}

if (import.meta.main) {
  const flags = Object.fromEntries(
    Deno.args.map((arg) => arg.replace(/^--/, "").split("=")).map(([k, v]) => [k, v ?? "true"]),
  );
  const port = Number(flags.port ?? 18_990);
  if (flags.serve === "deno-serve") serveWithDenoServe(port);
  else if (flags.serve === "listen") await serveWithListen(port);
  else {
    const connections = Number(flags.connections ?? 19_000);
    console.log("| server | connections | RSS before (MB) | RSS after (MB) | KB per connection |");
    console.log("|---|---:|---:|---:|---:|");
    console.log(await weigh("deno-serve", port, connections));
    console.log(await weigh("listen", port + 1, connections));
  }
}
