import { Hub } from "/work/main/lib/hub.ts";
import { SelectorSet } from "/work/main/lib/topic_selector.ts";
import { sseResponse } from "/work/main/lib/sse_response.ts";
const N = Number(Deno.args[0] ?? 5000);
const kv = await Deno.openKv(":memory:");
const hub = await Hub.open(kv);
let received = 0;
const readers: Promise<void>[] = [];
for (let i = 0; i < N; i++) {
  const controller = new AbortController();
  const response = sseResponse((signal) => hub.subscribe({ selectors: new SelectorSet(["t"]), accepts: () => true, signal }), { heartbeatMs: 0 });
  const reader = response.body!.getReader();
  readers.push((async () => { while (true) { const { value, done } = await reader.read(); if (done) break; if (value.length > 10) received++; } })());
}
await new Promise((r) => setTimeout(r, 200));
const EVENTS = 50;
const t0 = performance.now();
for (let e = 0; e < EVENTS; e++) {
  await hub.publish({ topics: ["t"], data: "x".repeat(64) });
  const target = (e + 1) * N;
  while (received < target) await new Promise((r) => setTimeout(r, 0));
}
const dt = performance.now() - t0;
console.log(`${N} subs: ${EVENTS} events in ${dt.toFixed(0)} ms => ${(dt / EVENTS).toFixed(2)} ms per event fan-out, ${(EVENTS * N / dt * 1000).toFixed(0)} deliveries/s`);
Deno.exit(0);
