import assert from "node:assert/strict";
import type { TakenSocket } from "../lib/http1/server.ts";
import { echo, RawClient, start } from "./support/http1_client.ts";

Deno.test("two requests on one keep-alive connection get two responses", async () => {
  const server = start(echo);
  const client = await RawClient.open(server);
  await client.send("GET /one HTTP/1.1\r\nHost: example.test\r\n\r\n");
  const first = await client.response();
  await client.send("GET /two?x=1 HTTP/1.1\r\nHost: example.test\r\n\r\n");
  const second = await client.response();
  assert.equal(first.body, "GET http://example.test/one");
  assert.equal(second.body, "GET http://example.test/two?x=1");
  assert.equal(first.headers.get("connection"), null);
  client.close();
  await server.shutdown();
});

Deno.test("two pipelined requests in one write get two responses in order", async () => {
  const server = start(async (request) => {
    if (request.url.endsWith("/slow")) await new Promise((resolve) => setTimeout(resolve, 50));
    return new Response(new URL(request.url).pathname);
  });
  const client = await RawClient.open(server);
  await client.send(
    "GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /fast HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  );
  assert.equal((await client.response()).body, "/slow");
  const second = await client.response();
  assert.equal(second.body, "/fast");
  assert.equal(second.headers.get("connection"), "close");
  assert.equal(await client.rest(), "");
  client.close();
  await server.shutdown();
});

Deno.test("a POST body with content-length reaches the handler as the exact text", async () => {
  const server = start(echo);
  const client = await RawClient.open(server);
  const text = "topic=a&data=h%C3%A9llo\r\nline two";
  await client.send(
    `POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: ${text.length}\r\n\r\n${text}`,
  );
  assert.equal((await client.response()).body, `POST http://h/p:${text}`);
  client.close();
  await server.shutdown();
});

Deno.test("a chunked request body is decoded, extensions and trailers skipped", async () => {
  const server = start(echo);
  const client = await RawClient.open(server);
  await client.send(
    "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
  );
  await client.send("6;name=value\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
  assert.equal((await client.response()).body, "PUT http://h/c:hello world");
  client.close();
  await server.shutdown();
});

Deno.test("Expect: 100-continue gets 100 Continue before the body is sent", async () => {
  const server = start(echo);
  const client = await RawClient.open(server);
  await client.send(
    "POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
  );
  const interim = await client.head();
  assert.equal(interim.head, "HTTP/1.1 100 Continue\r\n\r\n");
  await client.send("body");
  assert.equal((await client.response()).body, "POST http://h/e:body");
  client.close();
  await server.shutdown();
});

Deno.test("a one-chunk body is sent with its content-length", async () => {
  const server = start(() =>
    new Response("hello", { headers: { "x-one": "1", "content-length": "999" } })
  );
  const client = await RawClient.open(server);
  await client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  const response = await client.response();
  assert.equal(
    response.head,
    "HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=UTF-8\r\nx-one: 1\r\n" +
      "content-length: 5\r\n\r\n",
  );
  assert.equal(response.body, "hello");
  client.close();
  await server.shutdown();
});

Deno.test("a streaming body is sent chunked and its first chunk arrives before the stream ends", async () => {
  const release = Promise.withResolvers<void>();
  const server = start(() => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode("first"));
        await release.promise;
        controller.enqueue(encoder.encode("second"));
        controller.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const client = await RawClient.open(server);
  await client.send("GET /s HTTP/1.1\r\nHost: h\r\n\r\n");
  const head = await client.head();
  assert.equal(
    head.head,
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
  );
  assert.equal(await client.chunk(), "first");
  release.resolve();
  assert.equal(await client.chunk(), "second");
  assert.equal(await client.chunk(), null);
  client.close();
  await server.shutdown();
});

Deno.test("request headers reach the handler and each set-cookie gets its own line", async () => {
  const server = start((request) => {
    const headers = new Headers({ "content-type": "application/json" });
    headers.append("set-cookie", "a=1; Path=/");
    headers.append("set-cookie", "b=2");
    headers.set("connection", "upgrade");
    headers.set("transfer-encoding", "gzip");
    return new Response(JSON.stringify([...request.headers]), { status: 201, headers });
  });
  const client = await RawClient.open(server);
  await client.send("GET / HTTP/1.1\r\nHost: h\r\nX-Two: a\r\nx-two:  b \r\nAccept: */*\r\n\r\n");
  const response = await client.response();
  assert.equal(
    response.head,
    "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n" +
      "set-cookie: a=1; Path=/\r\nset-cookie: b=2\r\ncontent-length: 48\r\n\r\n",
  );
  assert.deepEqual(JSON.parse(response.body), [["accept", "*/*"], ["host", "h"], [
    "x-two",
    "a, b",
  ]]);
  client.close();
  await server.shutdown();
});

Deno.test("the request signal aborts when the client leaves before the response", async () => {
  const aborted = Promise.withResolvers<Request>();
  const server = start(async (request) => {
    await new Promise((resolve) => request.signal.addEventListener("abort", resolve));
    aborted.resolve(request);
    return new Response("too late");
  });
  const client = await RawClient.open(server);
  await client.send("GET /wait HTTP/1.1\r\nHost: h\r\n\r\n");
  client.close();
  const request = await aborted.promise;
  assert.equal(request.signal.aborted, true);
  assert.equal(request.clone().signal.aborted, true);
  await server.shutdown();
});

Deno.test("HEAD gets the head without a body and the connection stays usable", async () => {
  const server = start(() => new Response("not sent"));
  const client = await RawClient.open(server);
  await client.send("HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  const head = await client.response(true);
  assert.equal(head.head, "HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=UTF-8\r\n\r\n");
  const get = await client.response();
  assert.equal(get.body, "not sent");
  client.close();
  await server.shutdown();
});

Deno.test("a throwing handler gives 500, logs one error line, and other connections are served", async () => {
  const server = start((request) => {
    if (request.url.endsWith("/boom")) throw new Error("kaboom");
    return new Response("fine");
  });
  const logged: string[] = [];
  const original = console.error;
  console.error = (line: string) => logged.push(line);
  try {
    const failing = await RawClient.open(server);
    await failing.send("GET /boom HTTP/1.1\r\nHost: h\r\n\r\n");
    const response = await failing.response();
    assert.equal(response.status, 500);
    assert.equal(response.body, "internal error\n");
    failing.close();
  } finally {
    console.error = original;
  }
  assert.equal(logged.length, 1);
  const entry = JSON.parse(logged[0]);
  assert.equal(entry.level, "error");
  assert.equal(entry.msg, "request failed");
  assert.match(entry.error, /kaboom/);
  const other = await RawClient.open(server);
  await other.send("GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
  assert.equal((await other.response()).body, "fine");
  other.close();
  await server.shutdown();
});

Deno.test("a taken-over response writes its own bytes and learns when the peer closes", async () => {
  const taken = Promise.withResolvers<TakenSocket>();
  const requestAborted = Promise.withResolvers<void>();
  const server = start((request) => {
    request.signal.addEventListener("abort", () => requestAborted.resolve());
    return new Response(null, {
      headers: { "content-type": "text/event-stream", "x-direct": "yes", "content-length": "7" },
    });
  }, {
    takeOver: (response) =>
      response.headers.get("x-direct") === "yes" ? (socket) => taken.resolve(socket) : undefined,
  });
  const client = await RawClient.open(server);
  await client.send("GET /events HTTP/1.1\r\nHost: h\r\n\r\n");
  const head = await client.head();
  assert.equal(
    head.head,
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-direct: yes\r\nconnection: close\r\n\r\n",
  );
  const socket = await taken.promise;
  await socket.conn.write(new TextEncoder().encode("data: hi\n\n"));
  assert.equal(await client.take(10), "data: hi\n\n");
  let gone = 0;
  const closed = new Promise<void>((resolve) =>
    socket.onGone(() => {
      gone++;
      resolve();
    })
  );
  assert.equal(gone, 0);
  client.close();
  await closed;
  await requestAborted.promise;
  assert.equal(gone, 1);
  // Registered after the peer left: called at once.
  let late = false;
  socket.onGone(() => late = true);
  assert.equal(late, true);
  socket.conn.close();
  await server.shutdown();
});

Deno.test("a connection: close request gets connection: close and the connection closes", async () => {
  const server = start(echo);
  const client = await RawClient.open(server);
  await client.send("GET /bye HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  const response = await client.response();
  assert.equal(response.headers.get("connection"), "close");
  assert.equal(response.body, "GET http://h/bye");
  assert.equal(await client.rest(), "");
  client.close();
  await server.shutdown();
});

Deno.test("an HTTP/1.0 request closes after its response unless it asks for keep-alive", async () => {
  const server = start(echo);
  const keep = await RawClient.open(server);
  await keep.send("GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  const kept = await keep.response();
  assert.equal(kept.headers.get("connection"), "keep-alive");
  assert.equal(kept.body, `GET http://127.0.0.1:${server.addr.port}/k`);
  await keep.send("GET /2 HTTP/1.0\r\n\r\n");
  const closed = await keep.response();
  assert.equal(closed.body, `GET http://127.0.0.1:${server.addr.port}/2`);
  assert.equal(closed.headers.get("connection"), "close");
  assert.equal(await keep.rest(), "");
  keep.close();
  await server.shutdown();
});

Deno.test("shutdown refuses new connections and finishes after an in-flight slow response", async () => {
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const server = start(async () => {
    entered.resolve();
    await release.promise;
    return new Response("late");
  });
  const idle = await RawClient.open(server);
  const busy = await RawClient.open(server);
  await busy.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  await entered.promise;
  let finished = false;
  server.finished.then(() => finished = true);
  const shutdown = server.shutdown();
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }));
  assert.equal(await idle.rest(), "");
  assert.equal(finished, false);
  release.resolve();
  const response = await busy.response();
  assert.equal(response.body, "late");
  assert.equal(response.headers.get("connection"), "close");
  await shutdown;
  assert.equal(finished, true);
  assert.equal(await busy.rest(), "");
  idle.close();
  busy.close();
});
