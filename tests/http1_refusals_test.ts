/**
 * The HTTP/1.1 server's refusals: bad or oversized input gets a clear 4xx/5xx with its reason and
 * the connection closes; a head that never completes gets 408.
 *
 * @module
 */

import assert from "node:assert/strict";
import { echo, RawClient, start } from "./support/http1_client.ts";

const refusals: [string, string, number, string][] = [
  [
    "an oversized head",
    `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${"a".repeat(2000)}\r\n\r\n`,
    431,
    "request head larger than 1024 bytes",
  ],
  [
    "an oversized body",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n",
    413,
    "request body larger than 1000 bytes",
  ],
  ["a malformed request line", "GET /\r\nHost: h\r\n\r\n", 400, "malformed request line"],
  ["HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "HTTP version not supported: HTTP/2.0"],
  ["a missing Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "missing Host header"],
  [
    "both Content-Length and Transfer-Encoding",
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    400,
    "both Content-Length and Transfer-Encoding",
  ],
  [
    "a header without a colon",
    "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
    400,
    "header line without a colon",
  ],
  [
    "whitespace before a colon",
    "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    400,
    "whitespace before a header colon",
  ],
  [
    "an unknown transfer coding",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
    501,
    "unsupported Transfer-Encoding: gzip",
  ],
];

for (const [what, request, status, reason] of refusals) {
  Deno.test(`${what} gets ${status} with its reason and the connection closes`, async () => {
    let called = false;
    const server = start(() => {
      called = true;
      return new Response("handled");
    }, { maxHeadBytes: 1024, maxBodyBytes: 1000 });
    const client = await RawClient.open(server);
    await client.send(request);
    const response = await client.response();
    assert.equal(response.status, status);
    assert.equal(response.body, `${reason}\n`);
    assert.equal(response.headers.get("connection"), "close");
    assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(await client.rest(), "");
    assert.equal(called, false);
    client.close();
    await server.shutdown();
  });
}

Deno.test("a request head that does not complete in time gets 408 and a close", async () => {
  const server = start(echo, { headTimeoutMs: 300 });
  const client = await RawClient.open(server);
  await client.send("GET /partial HTTP/1.1\r\nHost: h\r\n");
  const response = await client.response();
  assert.equal(response.status, 408);
  assert.equal(response.body, "request not received in time\n");
  assert.equal(await client.rest(), "");
  client.close();
  await server.shutdown();
});
