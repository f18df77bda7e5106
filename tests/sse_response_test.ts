import assert from "node:assert/strict";
import { sseResponse, streamFinished } from "../lib/sse/response.ts";
import { Notifier } from "../lib/util/abortable.ts";
import { openEventStream } from "./support/sse_client.ts";

function serve(handler: (request: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { server, url: `http://127.0.0.1:${server.addr.port}` };
}

Deno.test("sseResponse sends the retry hint first, then each event, with event-stream headers", async () => {
  async function* events() {
    yield { event: "greeting", id: "1", data: "hello\nworld" };
    yield new TextEncoder().encode("data: pre-encoded\n\n");
  }
  const response = sseResponse(events(), { retryMs: 2500, heartbeatMs: 0 });
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  assert.equal(response.headers.get("cache-control"), "no-cache");
  for (const hopByHop of ["connection", "keep-alive", "transfer-encoding"]) {
    assert.equal(response.headers.get(hopByHop), null);
  }
  assert.equal(
    await response.text(),
    "retry: 2500\n\nid: 1\nevent: greeting\ndata: hello\ndata: world\n\ndata: pre-encoded\n\n",
  );
});

Deno.test("sseResponse runs the idle generator's finally within a second of the client leaving", async () => {
  let finished = 0;
  let started = 0;
  const parked = new Notifier();
  const { server, url } = serve(() =>
    sseResponse(async function* (signal) {
      try {
        yield { data: "first" };
        started = Date.now();
        await parked.wait(signal); // never notified: only the abort ends this wait
        yield { data: "never" };
      } finally {
        finished = Date.now();
      }
    }, { heartbeatMs: 0 })
  );
  try {
    const stream = await openEventStream(url);
    await stream.waitFor(1);
    await stream.close();
    const deadline = Date.now() + 1000;
    while (!finished && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(finished > 0, "the generator's finally did not run within a second");
    assert.ok(started > 0);
    assert.deepEqual(stream.events.map((event) => event.data), ["first"]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("idle streams receive heartbeat comments and active ones are not interrupted", async () => {
  const { server, url } = serve(() =>
    sseResponse(async function* (signal) {
      yield { data: "hello" };
      await new Notifier().wait(signal);
    }, { heartbeatMs: 100 })
  );
  try {
    const a = await openEventStream(url);
    const b = await openEventStream(url);
    await a.waitFor(1);
    await b.waitFor(1);
    const deadline = Date.now() + 3000;
    while ((a.comments.length < 2 || b.comments.length < 2) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(a.comments.length >= 2 && b.comments.length >= 2, "heartbeats did not arrive");
    assert.deepEqual(a.events.map((event) => event.data), ["hello"]);
    await a.close();
    await b.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("sseResponse drops the connection at once when its signal aborts", async () => {
  const controller = new AbortController();
  const { server, url } = serve(() =>
    sseResponse(async function* (signal) {
      yield { data: "one" };
      await new Notifier().wait(signal);
    }, { heartbeatMs: 0, signal: controller.signal })
  );
  try {
    const stream = await openEventStream(url);
    await stream.waitFor(1);
    controller.abort();
    // Dropped: the body is cut short, which the client sees as a failure, not a clean end.
    assert.equal((await stream.ended).by, "error");
    assert.deepEqual(stream.events.map((event) => event.data), ["one"]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a finished stream answers 204 so EventSource stops reconnecting", () => {
  assert.equal(streamFinished().status, 204);
});
