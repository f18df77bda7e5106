/**
 * The memory floor per idle SSE connection in Deno itself, to read scenario 4 against: the same
 * clients as the bench hold N connections to (a) a minimal `Deno.serve` SSE handler and (b) a
 * minimal hand-written HTTP/1.1 server on `Deno.listen`, and the server's RSS is weighed.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-run bench/floor.ts [--connections=19000]
 * ```
 *
 * The servers are this file run with `--serve=deno-serve` or `--serve=listen`.
 *
 * @module
 */

import { treeRssBytes } from "./proc_stats.ts";
import { WorkerPool } from "./worker_pool.ts";

const HOST = "127.0.0.1";
const encoder = new TextEncoder();

function serveWithDenoServe(port: number): void {
  Deno.serve({ hostname: HOST, port, onListen: () => {} }, () => {
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => controller.enqueue(encoder.encode(": hi\n\n")),
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
}

async function serveWithListen(port: number): Promise<void> {
  const head = encoder.encode(
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6\r\n: hi\n\n\r\n",
  );
  for await (const conn of Deno.listen({ hostname: HOST, port })) {
    (async () => {
      await conn.read(new Uint8Array(2048));
      await conn.write(head);
      const small = new Uint8Array(16);
      while ((await conn.read(small)) !== null) {
        // wait for the client to leave
      }
    })().catch(() => conn.close());
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
