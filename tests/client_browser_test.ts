/**
 * The client library in a real browser: headless Chromium opens a page of the real server,
 * imports `/client.js` (which imports `/client/sse_parser.js`) as a module, subscribes over SSE and
 * over WebSocket, and must receive what Deno publishes.
 *
 * Needs Debian's `chromium` (or `$TIDINGS_CHROMIUM`); set `TIDINGS_SKIP_BROWSER=1` to skip.
 */

import assert from "node:assert/strict";
import { findChromium, launchChromium } from "./support/chromium.ts";
import { startServer } from "./support/server.ts";
import { publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

const skipBrowser = Deno.env.get("TIDINGS_SKIP_BROWSER") === "1";

Deno.test({
  name: "a browser page imports /client.js and receives private events over SSE and WebSocket",
  ignore: skipBrowser,
  async fn() {
    const executable = findChromium();
    assert.ok(
      executable,
      "Chromium not found (install it with `apt-get install -y chromium`, or set " +
        "TIDINGS_SKIP_BROWSER=1 to skip the browser tests)",
    );
    const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
    const browser = await launchChromium({ executable });
    try {
      for (const path of ["/client.js", "/client/sse_parser.js"]) {
        const response = await fetch(`${server.url}${path}`);
        await response.body?.cancel();
        assert.equal(response.status, 200, `GET ${path} (routes/client_library.ts in main.ts)`);
        assert.equal(response.headers.get("content-type"), "text/javascript; charset=utf-8");
      }
      const subscriberToken = await mercureToken({ subscribe: ["*"] });
      const page = await browser.newPage();
      await page.navigate(`${server.url}/healthz`);
      const opened = await page.evaluate<string[]>(`(async () => {
        const { subscribe } = await import("/client.js");
        window.received = { sse: [], websocket: [] };
        window.subscriptions = ["sse", "websocket"].map((transport) => {
          const subscription = subscribe("/.well-known/mercure", {
            topics: ["browser-news"],
            transport,
            token: ${JSON.stringify(subscriberToken)},
          });
          subscription.on("headline", (event) => {
            window.received[transport].push({ id: event.id, data: event.json(), topic: event.topic ?? null });
          });
          return subscription;
        });
        await Promise.all(window.subscriptions.map((subscription) => new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(subscription.transport + " stayed " + subscription.state)), 10000);
          subscription.addEventListener("statechange", () => {
            if (subscription.state !== "open") return;
            clearTimeout(timer);
            resolve();
          });
        })));
        return window.subscriptions.map((subscription) => subscription.transport + ":" + subscription.state);
      })()`);
      assert.deepEqual(opened, ["sse:open", "websocket:open"]);

      const publisherToken = await mercureToken({ publish: ["*"] });
      const ids: string[] = [];
      for (const title of ["first", "second"]) {
        const result = await publish(server.url, publisherToken, {
          topic: "browser-news",
          type: "headline",
          data: JSON.stringify({ title }),
          private: "on",
        });
        assert.equal(result.status, 200, result.body);
        ids.push(result.body.trim());
      }
      await page.waitFor(
        "both subscriptions received both events",
        "window.received.sse.length === 2 && window.received.websocket.length === 2",
      );
      const expected = (topic: string | null) => [
        { id: ids[0], data: { title: "first" }, topic },
        { id: ids[1], data: { title: "second" }, topic },
      ];
      assert.deepEqual(await page.evaluate("window.received"), {
        sse: expected(null),
        websocket: expected("browser-news"),
      });
      const closed = await page.evaluate<string[]>(
        "Promise.all(window.subscriptions.map((s) => s.close())).then(() => window.subscriptions.map((s) => s.state))",
      );
      assert.deepEqual(closed, ["closed", "closed"]);
      // Resource-load log entries are left out: Chromium asks this page for /favicon.ico (404).
      const problems = page.problems.filter((problem) =>
        problem.kind !== "log" || /Content Security Policy|Refused to/i.test(problem.text)
      );
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
});
