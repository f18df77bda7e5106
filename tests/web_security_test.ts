/**
 * Black-box tests of what a browser or a forged request could abuse, against the real server
 * (`deno serve` and, where the request path differs, the direct listener): cross-site publishing
 * with the user's cookie, cross-site WebSocket upgrades, a `Host` that would reroute the request,
 * CORS `*`, `Last-Event-ID` answers about private updates, and the development token's expiry.
 *
 * @module
 */

import assert from "node:assert/strict";
import { expectedRefusal, HUB_PATH, hubUrl, readRefusal } from "./support/mercure.ts";
import { rawExchange, rawRequest } from "./support/raw_http.ts";
import { type RunningServer, startServer } from "./support/server.ts";
import { type EventStreamHandle, openSubscribed, publishAccepted } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

const OFF = { TIDINGS_DEMO_FEEDS: "off" };
const EVIL = "https://evil.example";
const TOPIC = "https://example.com/books/1";

async function cookiePublish(
  server: RunningServer,
  headers: Record<string, string>,
  data: string,
): Promise<Response> {
  const token = await mercureToken({ publish: ["*"] });
  return await fetch(`${server.url}${HUB_PATH}`, {
    method: "POST",
    headers: { cookie: `mercureAuthorization=${token}`, ...headers },
    body: new URLSearchParams({ topic: TOPIC, data }),
  });
}

const needsOrigin = expectedRefusal(
  403,
  "a request authenticated by the mercureAuthorization cookie needs an Origin or Referer header " +
    "(or send the token in the Authorization header)",
);
const evilOrigin = expectedRefusal(
  403,
  `origin "${EVIL}" may not use the mercureAuthorization cookie: allow it in TIDINGS_PUBLISH_ORIGINS`,
);
const evilReferer = expectedRefusal(
  403,
  `Referer origin "${EVIL}" may not use the mercureAuthorization cookie: allow it in ` +
    "TIDINGS_PUBLISH_ORIGINS",
);

for (const direct of [false, true]) {
  const listener = direct ? "the direct listener" : "deno serve";
  Deno.test(`on ${listener} a cookie-authenticated publish is accepted only from the hub's own or a listed origin`, async () => {
    const server = await startServer({
      direct,
      env: { ...OFF, TIDINGS_CORS_ORIGINS: "*,https://app.example" },
    });
    try {
      const refused: [Record<string, string>, unknown][] = [
        [{ origin: EVIL }, evilOrigin],
        [{ referer: `${EVIL}/form.html` }, evilReferer],
        [{ origin: EVIL, referer: `${server.url}/` }, evilOrigin],
        [{}, needsOrigin],
        [
          { origin: "null" },
          expectedRefusal(
            403,
            'origin "null" may not use the mercureAuthorization cookie: allow it in ' +
              "TIDINGS_PUBLISH_ORIGINS",
          ),
        ],
      ];
      for (const [headers, refusal] of refused) {
        const response = await cookiePublish(server, headers, "forged");
        assert.deepEqual(await readRefusal(response), refusal, JSON.stringify(headers));
      }
      const allowed: Record<string, string>[] = [
        { origin: server.url },
        { referer: `${server.url}/index.html` },
        { origin: "https://app.example" },
      ];
      for (const headers of allowed) {
        const response = await cookiePublish(server, headers, "from a page");
        assert.equal(response.status, 200, JSON.stringify(headers));
        assert.match(await response.text(), /^urn:uuid:/);
      }
      // A bearer token is never sent by a browser on its own: no origin rule applies.
      const bearer = await fetch(`${server.url}${HUB_PATH}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${await mercureToken({ publish: ["*"] })}`,
          origin: EVIL,
        },
        body: new URLSearchParams({ topic: TOPIC, data: "server to server" }),
      });
      assert.equal(bearer.status, 200);
      await bearer.body?.cancel();
    } finally {
      await server.close();
    }
  });
}

Deno.test("TIDINGS_PUBLISH_ORIGINS replaces the CORS origins as the origins a cookie may publish from", async () => {
  const server = await startServer({
    env: {
      ...OFF,
      TIDINGS_CORS_ORIGINS: "https://app.example",
      TIDINGS_PUBLISH_ORIGINS: "https://admin.example",
    },
  });
  try {
    const admin = await cookiePublish(server, { origin: "https://admin.example" }, "a");
    assert.equal(admin.status, 200);
    await admin.body?.cancel();
    const own = await cookiePublish(server, { origin: server.url }, "b");
    assert.equal(own.status, 200);
    await own.body?.cancel();
    const app = await cookiePublish(server, { origin: "https://app.example" }, "c");
    assert.deepEqual(
      await readRefusal(app),
      expectedRefusal(
        403,
        'origin "https://app.example" may not use the mercureAuthorization cookie: allow it in ' +
          "TIDINGS_PUBLISH_ORIGINS",
      ),
    );
  } finally {
    await server.close();
  }
});

Deno.test("a cookie-authenticated WebSocket upgrade from a foreign origin is refused with 403", async () => {
  const server = await startServer({ env: OFF });
  try {
    const cookie = `mercureAuthorization=${await mercureToken({ subscribe: ["*"] })}`;
    const upgrade = async (origin: string) => {
      const response = await rawRequest(
        server.port,
        `GET ${HUB_PATH}?topic=${encodeURIComponent(TOPIC)} HTTP/1.1\r\n` +
          `Host: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
          `Cookie: ${cookie}\r\nOrigin: ${origin}\r\n\r\n`,
      );
      try {
        if (response.status === 101) return { status: 101, text: "" };
        // The connection stays open: the body ends after its Content-Length bytes.
        return { status: response.status, text: await new Response(response.body).text() };
      } finally {
        response.close();
      }
    };
    assert.deepEqual(await upgrade(EVIL), { status: 403, text: evilOrigin.text });
    assert.deepEqual(await upgrade(server.url), { status: 101, text: "" });
  } finally {
    await server.close();
  }
});

for (const direct of [false, true]) {
  const listener = direct ? "the direct listener" : "deno serve";
  Deno.test(`on ${listener} a Host that is not host[:port] is a 400 and never routes elsewhere`, async () => {
    const server = await startServer({ direct, env: OFF });
    try {
      const get = (host: string, target = "/healthz") =>
        rawExchange(
          server.port,
          `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
        );
      for (
        const host of [
          "127.0.0.1/metrics?",
          "127.0.0.1/metrics#",
          "x#y",
          "a\\b",
          "user@127.0.0.1",
          "a%2fmetrics%3f",
          "hub:99999",
          "[::1",
        ]
      ) {
        const { status, text } = await get(host);
        assert.equal(status, 400, host);
        assert.match(text, /^invalid Host header/, host);
      }
      for (const host of ["127.0.0.1", `127.0.0.1:${server.port}`, "[::1]:8000", "hub.example"]) {
        const { status, text } = await get(host);
        assert.equal(status, 200, host);
        assert.equal(text, "ok\n", host);
      }
    } finally {
      await server.close();
    }
  });
}

Deno.test("CORS * answers any origin with * and no credentials, a listed one with credentials, null never", async () => {
  const listed = "https://app.example";
  const server = await startServer({ env: { ...OFF, TIDINGS_CORS_ORIGINS: `*,${listed}` } });
  try {
    const corsOf = async (origin: string, method = "GET") => {
      const response = await fetch(`${server.url}/healthz`, {
        method,
        headers: { origin, "access-control-request-method": "GET" },
      });
      await response.body?.cancel();
      return {
        status: response.status,
        allowOrigin: response.headers.get("access-control-allow-origin"),
        credentials: response.headers.get("access-control-allow-credentials"),
      };
    };
    assert.deepEqual(await corsOf(EVIL), { status: 200, allowOrigin: "*", credentials: null });
    assert.deepEqual(await corsOf(EVIL, "OPTIONS"), {
      status: 204,
      allowOrigin: "*",
      credentials: null,
    });
    assert.deepEqual(await corsOf(listed), {
      status: 200,
      allowOrigin: listed,
      credentials: "true",
    });
    assert.deepEqual(await corsOf(listed, "OPTIONS"), {
      status: 204,
      allowOrigin: listed,
      credentials: "true",
    });
    assert.deepEqual(await corsOf("null"), { status: 200, allowOrigin: null, credentials: null });
    assert.deepEqual(await corsOf("null", "OPTIONS"), {
      status: 403,
      allowOrigin: null,
      credentials: null,
    });
  } finally {
    await server.close();
  }
});

Deno.test("a Last-Event-ID naming a private update is answered as an unknown id unless the subscriber may see it", async () => {
  const server = await startServer({ env: OFF });
  const streams: EventStreamHandle[] = [];
  try {
    const user1 = "https://example.com/users/1";
    const publisher = await mercureToken({ publish: ["*"] });
    await publishAccepted(server.url, publisher, { topic: TOPIC, data: "p1", id: "p1" });
    await publishAccepted(server.url, publisher, {
      topic: user1,
      data: "s1",
      id: "secret-1",
      private: "on",
    });
    const hubMade = await publishAccepted(server.url, publisher, {
      topic: user1,
      data: "s2",
      private: "on",
    });
    await publishAccepted(server.url, publisher, { topic: TOPIC, data: "p2", id: "p2" });

    const resume = async (lastEventId: string, subscribe?: string[]) => {
      const headers: Record<string, string> = { "last-event-id": lastEventId };
      if (subscribe) headers.authorization = `Bearer ${await mercureToken({ subscribe })}`;
      const stream = await openSubscribed(
        hubUrl(server.url, [["topic", TOPIC], ["topic", user1]]),
        {
          headers,
        },
      );
      streams.push(stream);
      return stream;
    };
    const observed = async (stream: EventStreamHandle, count: number) => ({
      resumedFrom: stream.response.headers.get("last-event-id"),
      data: (await stream.waitFor(count)).map((event) => event.data),
    });
    const unknown = await observed(await resume("no-such-id"), 2);
    assert.deepEqual(unknown, { resumedFrom: "earliest", data: ["p1", "p2"] });
    for (const id of ["secret-1", hubMade.body]) {
      for (const subscribe of [undefined, ["https://example.com/users/2"]]) {
        const stream = await resume(id, subscribe);
        assert.deepEqual(await observed(stream, 2), unknown, `${id} for ${subscribe}`);
      }
    }
    // The user the updates are for resumes right after them.
    assert.deepEqual(await observed(await resume("secret-1", [user1]), 2), {
      resumedFrom: "secret-1",
      data: ["s2", "p2"],
    });
    assert.deepEqual(await observed(await resume(hubMade.body, [user1]), 1), {
      resumedFrom: hubMade.body,
      data: ["p2"],
    });
    // A public id resumes for anyone.
    assert.deepEqual(await observed(await resume("p1"), 1), { resumedFrom: "p1", data: ["p2"] });
  } finally {
    for (const stream of streams) await stream.close();
    await server.close();
  }
});

Deno.test("the development token printed at start expires in about 24 hours and publishes", async () => {
  const server = await startServer({ env: { ...OFF, TIDINGS_JWT_KEY: "" } });
  try {
    const deadline = Date.now() + 10_000;
    let token: string | undefined;
    while (token === undefined && Date.now() < deadline) {
      token = /^ {2}(eyJ[\w-]+\.[\w-]+\.[\w-]+)$/m.exec(server.output())?.[1];
      if (token === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(token, `no token in the banner:\n${server.output()}`);
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    const expected = Date.now() / 1000 + 24 * 60 * 60;
    assert.ok(Math.abs(payload.exp - expected) < 120, `exp ${payload.exp}, expected ~${expected}`);
    await publishAccepted(server.url, token, { topic: TOPIC, data: "with the dev token" });
  } finally {
    await server.close();
  }
});
