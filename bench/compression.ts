/**
 * `deno task bench:compression`: what gzip on event streams saves and costs. Starts tidings
 * twice (compression on, then off), opens the same subscribers, publishes the same stock-ticker
 * JSON updates at a steady rate, and reports bytes on the wire per event, server CPU, and
 * publish→deliver latency.
 *
 * @module
 */

import { BENCH_JWT_KEY, startTidings } from "./servers.ts";
import { benchPublisherToken } from "./jwt_for_bench.ts";
import { cpuMeter, processTree } from "./proc_stats.ts";

const SUBSCRIBERS = Number(Deno.env.get("BENCH_SUBSCRIBERS") ?? 200);
const EVENTS = Number(Deno.env.get("BENCH_EVENTS") ?? 400);
const RATE = 50;

interface Result {
  compression: boolean;
  wireBytesPerEvent: number;
  serverCpuPercent: number;
  p50: number;
  p99: number;
  received: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

async function measure(compression: boolean, port: number): Promise<Result> {
  const target = await startTidings({
    port,
    isolates: 1,
    env: { TIDINGS_COMPRESSION: compression ? "on" : "off", TIDINGS_SUBSCRIPTION_EVENTS: "off" },
  });
  const token = await benchPublisherToken(BENCH_JWT_KEY);
  const latencies: number[] = [];
  let wireBytes = 0;
  let received = 0;
  const controllers: AbortController[] = [];
  const readers: Promise<void>[] = [];
  try {
    // One subscriber decodes (fetch decompresses) and measures publish→deliver latency.
    const latencyController = new AbortController();
    controllers.push(latencyController);
    const latencyResponse = await fetch(
      `http://127.0.0.1:${port}/.well-known/mercure?topic=stocks`,
      {
        headers: { "accept-encoding": compression ? "gzip" : "identity" },
        signal: latencyController.signal,
      },
    );
    readers.push((async () => {
      let pending = "";
      const text = new TextDecoder();
      try {
        for await (const chunk of latencyResponse.body!) {
          pending += text.decode(chunk, { stream: true });
          let end;
          while ((end = pending.indexOf("\n\n")) >= 0) {
            const match = /"sentAt":(\d+\.?\d*)/.exec(pending.slice(0, end));
            pending = pending.slice(end + 2);
            if (match) {
              received++;
              latencies.push(performance.timeOrigin + performance.now() - Number(match[1]));
            }
          }
        }
      } catch {
        // aborted
      }
    })());
    // The others count the bytes on the wire.
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const request = `GET /.well-known/mercure?topic=stocks HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        (compression ? "Accept-Encoding: gzip\r\n" : "") + "\r\n";
      await conn.write(new TextEncoder().encode(request));
      const controller = new AbortController();
      controllers.push(controller);
      readers.push((async () => {
        let headerDone = false;
        const buffer = new Uint8Array(65536);
        try {
          while (!controller.signal.aborted) {
            const n = await conn.read(buffer);
            if (n === null) break;
            let bytes = buffer.subarray(0, n);
            if (!headerDone) {
              const split = new TextDecoder("latin1").decode(bytes).indexOf("\r\n\r\n");
              if (split < 0) continue;
              headerDone = true;
              bytes = bytes.subarray(split + 4);
            }
            wireBytes += bytes.length;
          }
        } catch {
          // closed
        } finally {
          conn.close();
        }
      })());
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const pids = await processTree(target.pid);
    const meter = await cpuMeter([pids[0]]);
    const baseline = wireBytes;
    let price = 190;
    for (let n = 0; n < EVENTS; n++) {
      price = Math.max(1, price * (1 + (Math.random() - 0.5) / 500));
      const data = JSON.stringify({
        symbol: ["AAPL", "GOOGL", "MSFT"][n % 3],
        price: Math.round(price * 100) / 100,
        open: 190,
        high: 193.63,
        low: 188.12,
        change: Math.round((price - 190) * 100) / 100,
        changePercent: Math.round(((price - 190) / 190) * 10000) / 100,
        volume: 62_000 + n * 17,
        time: new Date().toISOString(),
        sentAt: performance.timeOrigin + performance.now(),
      });
      const response = await fetch(`http://127.0.0.1:${port}/.well-known/mercure`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: new URLSearchParams({ topic: "stocks", data, type: "price_update" }),
      });
      await response.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 1000 / RATE));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [cpu] = await meter.stop();
    const sorted = latencies.sort((a, b) => a - b);
    return {
      compression,
      wireBytesPerEvent: (wireBytes - baseline) / SUBSCRIBERS / EVENTS,
      serverCpuPercent: cpu * 100,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      received,
    };
  } finally {
    for (const controller of controllers) controller.abort();
    await target.stop();
  }
}

if (import.meta.main) {
  const off = await measure(false, 18_470);
  const on = await measure(true, 18_471);
  const row = (r: Result) =>
    `| ${r.compression ? "gzip" : "identity"} | ${r.wireBytesPerEvent.toFixed(1)} | ${
      r.serverCpuPercent.toFixed(1)
    }% | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`;
  console.log(
    `${SUBSCRIBERS} subscribers, ${EVENTS} stock updates at ${RATE}/s\n\n` +
      "| encoding | wire bytes / event / subscriber | server CPU | p50 ms | p99 ms |\n|---|---|---|---|---|\n" +
      `${row(off)}\n${row(on)}\n\nbytes saved: ${
        (100 * (1 - on.wireBytesPerEvent / off.wireBytesPerEvent)).toFixed(1)
      }%`,
  );
}
