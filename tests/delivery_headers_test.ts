import assert from "node:assert/strict";
import { startServer } from "./support/server.ts";
import { publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { rawRequest } from "./support/raw_http.ts";
import { type ParsedEvent, SseParser } from "../client/sse_parser.js";
import { SECURITY_HEADERS } from "../routes/static.ts";

const OFF = { TIDINGS_DEMO_FEEDS: "off" };

/** Opens a stream over a raw connection, so the content coding is seen as sent. */
async function rawStream(port: number, path: string, acceptEncoding: string) {
  const response = await rawRequest(
    port,
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: ${acceptEncoding}\r\n\r\n`,
  );
  const coding = response.headers.get("content-encoding");
  const body = coding === "gzip" || coding === "deflate"
    ? response.body.pipeThrough(
      new DecompressionStream(coding) as unknown as TransformStream<Uint8Array, Uint8Array>,
    )
    : response.body;
  const events: ParsedEvent[] = [];
  const parser = new SseParser({ onEvent: (event) => events.push(event) });
  const reader = body.getReader();
  /** Reads until `count` events have arrived (5 s at most). */
  const waitFor = async (count: number) => {
    const timer = setTimeout(() => response.close(), 5000);
    try {
      while (events.length < count) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended after ${events.length} of ${count} events`);
        parser.feed(value);
      }
    } finally {
      clearTimeout(timer);
    }
    return events.map((event) => event.data);
  };
  const close = async () => {
    response.close();
    await reader.cancel().catch(() => {});
  };
  return { headers: response.headers, status: response.status, waitFor, close };
}

for (const coding of ["gzip", "deflate"] as const) {
  Deno.test(`an event stream asked for ${coding} is compressed and flushed event by event`, async () => {
    const server = await startServer({ env: OFF });
    const stream = await rawStream(server.port, "/.well-known/mercure?topic=zip", coding);
    try {
      const token = await mercureToken({ publish: ["*"] });
      assert.equal(stream.status, 200);
      assert.equal(stream.headers.get("content-encoding"), coding);
      assert.equal(stream.headers.get("content-type"), "text/event-stream");
      assert.match(stream.headers.get("vary") ?? "", /accept-encoding/);
      // The first event is read before the second is published: each is flushed on its own.
      await publish(server.url, token, { topic: "zip", data: "first" });
      assert.deepEqual(await stream.waitFor(1), ["first"]);
      await publish(server.url, token, { topic: "zip", data: "second\nline" });
      assert.deepEqual(await stream.waitFor(2), ["first", "second\nline"]);
      // Other compressible responses too, when they are big enough to gain from it.
      const page = await rawRequest(
        server.port,
        `GET /client/tidings_client.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: ${coding}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(page.headers.get("content-encoding"), coding);
      const script = await new Response(
        page.body.pipeThrough(
          new DecompressionStream(coding) as unknown as TransformStream<Uint8Array, Uint8Array>,
        ),
      ).text();
      assert.equal(script, await (await fetch(`${server.url}/client/tidings_client.js`)).text());
    } finally {
      await stream.close();
      await server.close();
    }
  });
}

Deno.test("TIDINGS_COMPRESSION=off sends event streams and pages uncompressed", async () => {
  const server = await startServer({ env: { ...OFF, TIDINGS_COMPRESSION: "off" } });
  const stream = await rawStream(server.port, "/.well-known/mercure?topic=zip", "gzip, deflate");
  try {
    const token = await mercureToken({ publish: ["*"] });
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get("content-encoding"), null);
    await publish(server.url, token, { topic: "zip", data: "plain" });
    assert.deepEqual(await stream.waitFor(1), ["plain"]);
    const page = await rawRequest(
      server.port,
      "GET /client/tidings_client.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-encoding"), null);
    await page.body.cancel();
  } finally {
    await stream.close();
    await server.close();
  }
});

Deno.test("listed CORS origins get credentials, unlisted ones get no allow-origin and a 403 preflight", async () => {
  const allowed = "https://app.example";
  const server = await startServer({
    env: { ...OFF, TIDINGS_CORS_ORIGINS: `${allowed},https://other.example` },
  });
  try {
    const simple = await fetch(`${server.url}/healthz`, { headers: { origin: allowed } });
    await simple.body?.cancel();
    assert.equal(simple.headers.get("access-control-allow-origin"), allowed);
    assert.equal(simple.headers.get("access-control-allow-credentials"), "true");
    assert.equal(
      simple.headers.get("access-control-expose-headers"),
      "last-event-id, link, retry-after",
    );
    assert.match(simple.headers.get("vary") ?? "", /origin/);
    // An event stream carries the headers too.
    const stream = await fetch(`${server.url}/.well-known/mercure?topic=cors`, {
      headers: { origin: allowed },
    });
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get("access-control-allow-origin"), allowed);
    await stream.body?.cancel();

    const preflight = await fetch(`${server.url}/.well-known/mercure`, {
      method: "OPTIONS",
      headers: {
        origin: allowed,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), allowed);
    assert.equal(preflight.headers.get("access-control-allow-credentials"), "true");
    assert.equal(preflight.headers.get("access-control-allow-methods"), "GET, POST, OPTIONS");
    assert.equal(
      preflight.headers.get("access-control-allow-headers"),
      "authorization, content-type, last-event-id, cache-control",
    );
    assert.equal(preflight.headers.get("access-control-max-age"), "600");
    await preflight.body?.cancel();

    const stranger = "https://evil.example";
    const refused = await fetch(`${server.url}/healthz`, { headers: { origin: stranger } });
    await refused.body?.cancel();
    assert.equal(refused.headers.get("access-control-allow-origin"), null);
    assert.equal(refused.headers.get("access-control-allow-credentials"), null);
    const refusedPreflight = await fetch(`${server.url}/.well-known/mercure`, {
      method: "OPTIONS",
      headers: { origin: stranger, "access-control-request-method": "POST" },
    });
    assert.equal(refusedPreflight.status, 403);
    assert.equal(refusedPreflight.headers.get("access-control-allow-origin"), null);
    assert.equal(await refusedPreflight.text(), "origin not allowed by TIDINGS_CORS_ORIGINS\n");
  } finally {
    await server.close();
  }
});

Deno.test("without TIDINGS_CORS_ORIGINS no origin is allowed", async () => {
  const server = await startServer({ env: OFF });
  try {
    const origin = "https://app.example";
    const simple = await fetch(`${server.url}/healthz`, { headers: { origin } });
    await simple.body?.cancel();
    assert.equal(simple.headers.get("access-control-allow-origin"), null);
    const preflight = await fetch(`${server.url}/healthz`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "GET" },
    });
    assert.equal(preflight.status, 403);
    await preflight.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("the dashboard carries the content security policy and the other security headers", async () => {
  const server = await startServer({ env: OFF });
  try {
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(await page.text(), /<html/i);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      assert.equal(page.headers.get(name), value, name);
    }
    assert.match(
      page.headers.get("content-security-policy")!,
      /(^|; )script-src 'self'(;|$)/,
      "no inline script allowed",
    );
  } finally {
    await server.close();
  }
});
