/**
 * Live JavaScript heap per idle SSE connection: starts tidings (one isolate) with the V8 inspector
 * on loopback, takes a heap snapshot (which collects garbage first), opens N idle subscriptions,
 * takes another, and prints the growth per connection by kind of object. Unlike RSS, this leaves
 * out garbage not yet collected, so it is exact and repeatable: the figure to watch when changing
 * per-connection state.
 *
 * ```sh
 * deno run --allow-net --allow-env --allow-read --allow-write --allow-run \
 *   bench/heap_per_connection.ts [--connections=2000] [--deno-serve] [--server-env=K=V,...]
 * ```
 *
 * @module
 */

import { Inspector } from "./inspector.ts";
import { startTidings } from "./servers.ts";

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size and count per `type:name` of a snapshot's nodes. */
function tally(snapshot: HeapSnapshot): Map<string, { count: number; bytes: number }> {
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeAt]];
    const name = type === "string" || type === "concatenated string"
      ? ""
      : snapshot.strings[snapshot.nodes[i + nameAt]].slice(0, 50);
    const key = `${type}:${name}`;
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[i + sizeAt];
    out.set(key, entry);
  }
  return out;
}

async function takeSnapshot(inspector: Inspector): Promise<HeapSnapshot> {
  const chunks: string[] = [];
  inspector.on(
    "HeapProfiler.addHeapSnapshotChunk",
    (params) => chunks.push(params.chunk as string),
  );
  await inspector.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  return JSON.parse(chunks.join(""));
}

if (import.meta.main) {
  const flags = Object.fromEntries(
    Deno.args.map((arg) => arg.replace(/^--/, "").split("=")).map(([k, ...v]) => [
      k,
      v.join("=") || "true",
    ]),
  );
  const connections = Number(flags.connections ?? 2000);
  const env: Record<string, string> = {};
  for (const pair of (flags["server-env"] ?? "").split(",").filter(Boolean)) {
    const [name, ...value] = pair.split("=");
    env[name] = value.join("=");
  }
  const inspectPort = 19_329;
  const target = await startTidings({
    port: 18_700,
    isolates: 1,
    direct: !("deno-serve" in flags),
    denoFlags: [`--inspect=127.0.0.1:${inspectPort}`],
    env,
  });
  const sockets: Deno.TcpConn[] = [];
  try {
    const inspector = await Inspector.connect(inspectPort);
    await inspector.send("HeapProfiler.enable");
    const before = tally(await takeSnapshot(inspector));
    const request = new TextEncoder().encode(
      `GET ${target.subscribePath("idle")} HTTP/1.1\r\nHost: ${target.host}\r\n` +
        "Accept: text/event-stream\r\n\r\n",
    );
    const head = new Uint8Array(2048);
    for (let i = 0; i < connections; i++) {
      const socket = await Deno.connect({ hostname: target.host, port: target.port });
      await socket.write(request);
      await socket.read(head);
      sockets.push(socket);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const after = tally(await takeSnapshot(inspector));
    inspector.close();
    let total = 0;
    const rows: Array<[string, number, number]> = [];
    for (const [key, { count, bytes }] of after) {
      const old = before.get(key) ?? { count: 0, bytes: 0 };
      total += bytes - old.bytes;
      rows.push([key, (count - old.count) / connections, (bytes - old.bytes) / connections]);
    }
    rows.sort((a, b) => b[2] - a[2]);
    const server = "deno-serve" in flags ? "deno serve" : "direct listener";
    console.log(
      `## Live heap per idle connection (${server}, ${connections} connections` +
        `${
          Object.keys(env).length ? `, ${Object.entries(env).map(([k, v]) => `${k}=${v}`)}` : ""
        })\n`,
    );
    console.log(`**${(total / connections).toFixed(0)} bytes** per connection\n`);
    console.log("| object | per connection | bytes per connection |\n|---|---:|---:|");
    for (const [key, count, bytes] of rows.slice(0, Number(flags.top ?? 15))) {
      console.log(`| \`${key}\` | ${count.toFixed(2)} | ${bytes.toFixed(0)} |`);
    }
  } finally {
    for (const socket of sockets) socket.close();
    await target.stop();
  }
}
