/**
 * Deno's floor for tidings' default start (`deno serve --parallel`, one isolate per core): a bare
 * event stream served by `deno serve --parallel`, as bench target `floor-serve-parallel`. A `POST`
 * (nchan style: the body is the data) is written to every open stream of this isolate and sent to
 * the other isolates over one `BroadcastChannel`, which write it to theirs; it is answered `201`.
 * No log, no matching, no admission: what the platform costs for the same connections.
 *
 * ```sh
 * DENO_JOBS=2 deno serve --parallel --host=127.0.0.1 --port=18990 --allow-net bench/floor_parallel.ts
 * ```
 *
 * @module
 */

import { eventStream } from "./floor.ts";

const encoder = new TextEncoder();
const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
const peers = new BroadcastChannel("tidings-bench-floor-parallel");

function writeToAll(data: string): void {
  const chunk = encoder.encode(`data: ${data}\n\n`);
  for (const controller of streams) controller.enqueue(chunk);
}

peers.onmessage = (event: MessageEvent<string>) => writeToAll(event.data);

export default {
  async fetch(request: Request): Promise<Response> {
    if (request.method === "POST") {
      const data = await request.text();
      writeToAll(data);
      peers.postMessage(data);
      return new Response(null, { status: 201 });
    }
    return eventStream(streams);
  },
} satisfies Deno.ServeDefaultExport;
