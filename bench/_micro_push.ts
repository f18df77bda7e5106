const N = Number(Deno.args[0] ?? 5000);
let received = 0;
const controllers: ReadableStreamDefaultController<Uint8Array>[] = [];
for (let i = 0; i < N; i++) {
  const stream = new ReadableStream<Uint8Array>({ start(c) { controllers.push(c); } }, { highWaterMark: 1 });
  const reader = stream.getReader();
  (async () => { while (true) { const { value, done } = await reader.read(); if (done) break; if (value.length > 10) received++; } })();
}
const bytes = new TextEncoder().encode("data: " + "x".repeat(64) + "\n\n");
const EVENTS = 50;
const t0 = performance.now();
for (let e = 0; e < EVENTS; e++) {
  for (const c of controllers) c.enqueue(bytes);
  const target = (e + 1) * N;
  while (received < target) await new Promise((r) => setTimeout(r, 0));
}
const dt = performance.now() - t0;
console.log(`push ${N}: ${(dt / EVENTS).toFixed(2)} ms per event, ${(EVENTS * N / dt * 1000).toFixed(0)} deliveries/s`);
