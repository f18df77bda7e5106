import assert from "node:assert/strict";
import { startServer } from "./support/server.ts";
import { within } from "./support/hub_probe.ts";
import { rawExchange } from "./support/raw_http.ts";

const OFF = { TIDINGS_DEMO_FEEDS: "off" };

Deno.test("an over-long URL gets 414 and oversized headers get 431, each with a reason", async () => {
  const server = await startServer({ env: OFF });
  try {
    const longUrl = await rawExchange(
      server.port,
      `GET /.well-known/mercure?topic=${"a".repeat(9000)} HTTP/1.1\r\nHost: x\r\n` +
        "Connection: close\r\n\r\n",
    );
    assert.equal(longUrl.status, 414);
    assert.equal(longUrl.headers.get("x-tidings-refusal"), "URL longer than 8192 bytes");
    assert.equal(longUrl.text, "URL longer than 8192 bytes\n");
    const bigHeader = await rawExchange(
      server.port,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(17_000)}\r\n` +
        "Connection: close\r\n\r\n",
    );
    assert.equal(bigHeader.status, 431);
    assert.equal(bigHeader.headers.get("x-tidings-refusal"), "headers larger than 16384 bytes");
    assert.equal(bigHeader.text, "headers larger than 16384 bytes\n");
    let manyHeaders = "";
    for (let i = 0; i < 90; i++) manyHeaders += `X-Header-${i}: ${"v".repeat(200)}\r\n`;
    const many = await rawExchange(
      server.port,
      `GET /healthz HTTP/1.1\r\nHost: x\r\n${manyHeaders}Connection: close\r\n\r\n`,
    );
    assert.equal(many.status, 431);
    assert.equal(many.text, "headers larger than 16384 bytes\n");
    // The same URL through fetch (below the client's own limit) is refused the same way.
    const viaFetch = await fetch(`${server.url}/healthz?x=${"c".repeat(8200)}`);
    assert.equal(viaFetch.status, 414);
    await viaFetch.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("request heads far past the limits are refused or dropped, never answered with a 5xx", async () => {
  const server = await startServer({ env: OFF });
  try {
    const heads = [
      `GET /healthz?x=${"a".repeat(200_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(1_000_000)}\r\n` +
      "Connection: close\r\n\r\n",
    ];
    for (const head of heads) {
      // Deno's HTTP layer drops a head past its buffer with a reset; anything but a 4xx answer or
      // a reset (a 5xx, a clean close with no answer, a hang) fails.
      const outcome = await within(10_000, rawExchange(server.port, head), "a refusal or a drop")
        .then(
          ({ status }) => status >= 400 && status < 500 ? "refused" : `answered ${status}`,
          (error) =>
            error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe
              ? "dropped"
              : `failed: ${error}`,
        );
      assert.ok(outcome === "refused" || outcome === "dropped", outcome);
    }
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), "ok\n");
  } finally {
    await server.close();
  }
});

Deno.test("malformed JSON on POST /orders and /chat/typing gets 400 with the reason", async () => {
  const server = await startServer({ env: OFF });
  try {
    for (const path of ["/orders", "/chat/typing"]) {
      const malformed = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"item": "tea"',
      });
      assert.equal(malformed.status, 400, path);
      const reason = malformed.headers.get("x-tidings-refusal") ?? "";
      assert.match(reason, /^malformed JSON: /, path);
      assert.equal(await malformed.text(), `${reason}\n`);
      const notObject = await fetch(`${server.url}${path}`, { method: "POST", body: "[1, 2]" });
      assert.equal(notObject.status, 400, path);
      assert.equal(await notObject.text(), "JSON body must be an object\n", path);
    }
    const badUser = await fetch(`${server.url}/chat/typing`, {
      method: "POST",
      body: JSON.stringify({ user: "a\nb" }),
    });
    assert.equal(badUser.status, 400);
    assert.equal(
      await badUser.text(),
      'body must be {"user": "<1-32 letters, digits, spaces or _ - .>"}\n',
    );
    const badItem = await fetch(`${server.url}/orders`, {
      method: "POST",
      body: JSON.stringify({ item: 42 }),
    });
    assert.equal(badItem.status, 400);
    assert.equal(
      await badItem.text(),
      "item must be a string of at most 100 printable characters\n",
    );
  } finally {
    await server.close();
  }
});

Deno.test("unknown feeds and orders get 404, malformed order ids get 400", async () => {
  const server = await startServer({ env: OFF });
  try {
    const cases: Array<[string, number, string]> = [
      [
        "/feeds/weather",
        404,
        'unknown feed "weather": try clock, stocks, system, chat, orders/{id} or games/{id}',
      ],
      ["/orders/ord_aaaaaaaaaaaa", 404, "unknown order ord_aaaaaaaaaaaa"],
      ["/feeds/orders/ord_aaaaaaaaaaaa", 404, "unknown order ord_aaaaaaaaaaaa"],
      ["/orders/ord_NOT-VALID", 400, 'bad order id "ord_NOT-VALID"'],
      ["/orders/%2E%2E%2Fetc", 400, 'bad order id "%2E%2E%2Fetc"'],
      ["/feeds/orders/123", 400, 'bad order id "123"'],
    ];
    for (const [path, status, reason] of cases) {
      const response = await fetch(`${server.url}${path}`);
      assert.equal(response.status, status, path);
      assert.equal(response.headers.get("x-tidings-refusal"), reason, path);
      assert.equal(await response.text(), `${reason}\n`, path);
    }
    // A real order is found.
    const created = await fetch(`${server.url}/orders`, {
      method: "POST",
      body: JSON.stringify({ item: "tea" }),
    });
    assert.equal(created.status, 201);
    const { id } = await created.json();
    const found = await fetch(`${server.url}/orders/${id}`);
    assert.equal(found.status, 200);
    assert.equal((await found.json()).id, id);
  } finally {
    await server.close();
  }
});
