/**
 * The direct listener when exposed: what RFC 9112 lets it refuse is refused (control characters in
 * field values, HTTP/1.0 with Transfer-Encoding, junk after a chunk size), a client that stops
 * reading a response is cut off by the write deadline, and sockets past the connection limit get
 * a cheap 503 before their request is read.
 *
 * @module
 */

import assert from "node:assert/strict";
import { echo, RawClient, start } from "./support/http1_client.ts";
import { waitUntil } from "./support/hub_probe.ts";

const refusals: [string, string, number, string][] = [
  [
    "a control character in a field value",
    "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n",
    400,
    "control character in the value of header x-a",
  ],
  [
    "DEL in a field value",
    "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fb\r\n\r\n",
    400,
    "control character in the value of header x-a",
  ],
  [
    "a NUL in a field value",
    "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n",
    400,
    "control character in the value of header x-a",
  ],
  [
    "HTTP/1.0 with chunked",
    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    400,
    "Transfer-Encoding in an HTTP/1.0 request",
  ],
  [
    "junk after a chunk size",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2 9\r\nhi\r\n0\r\n\r\n",
    400,
    "unexpected bytes after a chunk size",
  ],
  [
    "a control character in a chunk extension",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2;a\x01\r\nhi\r\n0\r\n\r\n",
    400,
    "control character in a chunk extension",
  ],
];

for (const [what, request, status, reason] of refusals) {
  Deno.test(`the direct listener refuses ${what} with ${status} and its reason`, async () => {
    let called = false;
    const server = start(() => {
      called = true;
      return new Response("handled");
    });
    const client = await RawClient.open(server);
    await client.send(request);
    const response = await client.response();
    assert.equal(response.status, status);
    assert.equal(response.body, `${reason}\n`);
    assert.equal(response.headers.get("connection"), "close");
    assert.equal(await client.rest(), "");
    assert.equal(called, false);
    client.close();
    await server.shutdown();
  });
}

const accepted: [string, string, string][] = [
  [
    "whitespace and an extension after a chunk size",
    'POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2 \t;ext="v"\r\nhi\r\n0\r\n\r\n',
    "POST http://h/a:hi",
  ],
  [
    "bare LF line ends (RFC 9112 §2.2 allows them; the choice is documented)",
    "POST /a HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n2\nhi\n0\n\n",
    "POST http://h/a:hi",
  ],
  [
    "a tab and obs-text in a field value",
    "GET /a HTTP/1.1\r\nHost: h\r\nX-A: a\tb\xe9\r\n\r\n",
    "GET http://h/a",
  ],
];

for (const [what, request, body] of accepted) {
  Deno.test(`the direct listener accepts ${what}`, async () => {
    const server = start(echo);
    const client = await RawClient.open(server);
    await client.send(request);
    const response = await client.response();
    assert.equal(response.status, 200);
    assert.equal(response.body, body);
    client.close();
    await server.shutdown();
  });
}

Deno.test("a client that never reads a large response is disconnected by the write deadline", async () => {
  let cancelled = false;
  const piece = new Uint8Array(65_536);
  const server = start(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull: (controller) => controller.enqueue(piece),
        cancel: () => {
          cancelled = true;
        },
      }, { highWaterMark: 0 }),
    ), { writeTimeoutMs: 300 });
  const client = await RawClient.open(server);
  await client.send("GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
  // The client reads nothing: once the socket buffers are full, a write waits; the deadline ends it.
  await waitUntil("the response to be abandoned", () => cancelled, 10_000);
  client.close();
  await server.shutdown();
});

Deno.test("a slow handler is not cut off by the write deadline: it only times writes", async () => {
  const server = start(async () => {
    await new Promise((resolve) => setTimeout(resolve, 600));
    return new Response("late but fine");
  }, { writeTimeoutMs: 200 });
  const client = await RawClient.open(server);
  await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  assert.equal((await client.response()).body, "late but fine");
  client.close();
  await server.shutdown();
});

Deno.test("past maxConnections a new socket gets 503 with Retry-After before its request is read, and closes", async () => {
  let calls = 0;
  const server = start(() => {
    calls++;
    return new Response("ok");
  }, { maxConnections: 2, retryAfterSeconds: 7 });
  const held = [await RawClient.open(server), await RawClient.open(server)];
  for (const client of held) {
    await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal((await client.response()).body, "ok");
  }
  const refused = await RawClient.open(server);
  await refused.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  const response = await refused.response();
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "7");
  assert.equal(response.headers.get("connection"), "close");
  assert.equal(response.body, "connection limit reached (2)\n");
  assert.equal(await refused.rest(), "");
  assert.equal(calls, 2);
  refused.close();
  // A freed slot is served again.
  held.pop()!.close();
  await waitUntil("a slot to be free", async () => {
    const client = await RawClient.open(server);
    await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    const status = (await client.response()).status;
    client.close();
    return status === 200;
  });
  held[0].close();
  await server.shutdown();
});
