/**
 * The dashboard in a real browser: headless Chromium (over the DevTools protocol) loads `/` from
 * the real server, under its Content-Security-Policy, and every panel must come alive.
 *
 * Needs Debian's `chromium` (or `$TIDINGS_CHROMIUM`); set `TIDINGS_SKIP_BROWSER=1` to skip.
 */

import assert from "node:assert/strict";
import { findChromium, launchChromium, type Page } from "./support/chromium.ts";
import { startServer } from "./support/server.ts";
import { mercureToken } from "./support/tokens.ts";

const skipBrowser = Deno.env.get("TIDINGS_SKIP_BROWSER") === "1";
/** A browser's HTTP/1.1 connections per origin, shared by every tab of a profile. */
const CONNECTIONS_PER_ORIGIN = 6;
const SCREENSHOT = "/tmp/tidings-dashboard.png";
const SHARED_FEEDS = ["clock", "stocks", "system", "chat"];

function requireChromium(): string {
  const path = findChromium();
  assert.ok(
    path,
    "Chromium not found at /usr/bin/chromium (or $TIDINGS_CHROMIUM): install it with " +
      "`apt-get install -y chromium`, or set TIDINGS_SKIP_BROWSER=1 to skip the browser tests",
  );
  return path;
}

/** The `data-state` of each header indicator, e.g. `{ clock: "live", … }`. */
function feedStates(page: Page): Promise<Record<string, string>> {
  return page.evaluate(
    `Object.fromEntries([...document.querySelectorAll(".feed")].map((f) => [f.dataset.feed, f.dataset.state]))`,
  );
}

/** Waits until each named indicator shows `state` (both its data-state and its label). */
async function waitForFeeds(page: Page, feeds: string[], state: string, timeoutMs = 20_000) {
  const list = JSON.stringify(feeds);
  const waiting = page.waitFor(
    `the ${feeds.join(", ")} indicators read "${state}"`,
    `${list}.every((name) => {
      const f = document.querySelector('.feed[data-feed="' + name + '"]');
      return f && f.dataset.state === ${JSON.stringify(state)} &&
        f.querySelector(".feed-state").textContent === ${JSON.stringify(state)};
    })`,
    { timeoutMs },
  );
  try {
    await waiting;
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; indicators: ${JSON.stringify(await feedStates(page))}`,
    );
  }
}

/** An expression for an element's text (null when the element is missing). */
const textOf = (selector: string) =>
  `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? null)`;

/** Problems that mean the page is broken: exceptions, console errors/warnings, CSP refusals. */
function seriousProblems(page: Page): string[] {
  return page.problems
    .filter((problem) =>
      problem.kind !== "log" || /Content Security Policy|Refused to|violates/i.test(problem.text)
    )
    .map((problem) => `${problem.kind}: ${problem.text}`);
}

Deno.test({
  name: "dashboard shows every feed live in headless Chromium under the server's CSP",
  ignore: skipBrowser,
  async fn(t) {
    const executable = requireChromium();
    const server = await startServer();
    const browser = await launchChromium({ executable, width: 1440, height: 900 });
    try {
      const home = await fetch(`${server.url}/`);
      await home.body?.cancel();
      assert.equal(home.status, 200);
      assert.match(home.headers.get("content-security-policy") ?? "", /default-src 'self'/);

      const page = await browser.newPage();
      await page.navigate(`${server.url}/`);

      await t.step("its modules run and the shared feeds' indicators read live", async () => {
        await page.waitFor("the app has started", `document.body.dataset.ready === "true"`);
        await waitForFeeds(page, SHARED_FEEDS, "live");
      });

      await t.step("the header clock shows server time and keeps ticking", async () => {
        const first = await page.waitFor<string>(
          "the clock shows a time",
          `/^\\d\\d:\\d\\d:\\d\\d$/.test(${textOf("#clock-time")}) && ${textOf("#clock-time")}`,
        );
        const next = await page.waitFor<string>(
          `the clock moves on from ${first}`,
          `(${textOf("#clock-time")}) !== ${JSON.stringify(first)} && ${textOf("#clock-time")}`,
          { timeoutMs: 5000 },
        );
        assert.match(next, /^\d\d:\d\d:\d\d$/);
      });

      await t.step("AAPL, GOOGL and MSFT rows show prices, changes and sparklines", async () => {
        for (const symbol of ["AAPL", "GOOGL", "MSFT"]) {
          const row = `[data-symbol="${symbol}"]`;
          const price = await page.waitFor<string>(
            `${symbol} shows a price`,
            `/^\\d{1,3}(,\\d{3})*\\.\\d{2}$/.test(${textOf(`#ticker ${row} .price`)}) &&
              ${textOf(`#ticker ${row} .price`)}`,
          );
          assert.ok(Number(price.replaceAll(",", "")) > 0, `${symbol} price ${price}`);
          const change = await page.evaluate<string>(textOf(`#ticker ${row} .change`));
          assert.match(change, /^(\+|\u2212)?\d[\d,]*\.\d{2} \((\+|\u2212)?\d[\d,]*\.\d{2}%\)$/);
          const direction = await page.evaluate<string>(
            `document.querySelector('#ticker ${row}').dataset.direction`,
          );
          assert.ok(["up", "down", "flat"].includes(direction), `direction ${direction}`);
          await page.waitFor(
            `${symbol}'s sparkline has at least two points`,
            `Number(document.querySelector('#ticker ${row} .sparkline')?.dataset.points) >= 2 &&
              document.querySelector('#ticker ${row} .spark-line').getAttribute("points").split(" ").length >= 2`,
          );
        }
      });

      await t.step("system gauges show CPU, memory and disk as percentages or n/a", async () => {
        for (const metric of ["cpu", "memory", "disk"]) {
          const value = await page.waitFor<string>(
            `#${metric}-value shows a value`,
            `/^(\\d{1,3}\\.\\d%|n\\/a)$/.test(${textOf(`#${metric}-value`)}) && ${
              textOf(`#${metric}-value`)
            }`,
          );
          const level = await page.evaluate<string>(
            `document.querySelector("#gauge-${metric}").dataset.level`,
          );
          assert.equal(level === "na", value === "n/a", `${metric}: ${value} with level ${level}`);
          if (value !== "n/a") assert.ok(Number.parseFloat(value) <= 100, `${metric} ${value}`);
        }
        await page.waitFor(
          "the network chart has a sample",
          `Number(document.querySelector("#net-chart").dataset.samples) >= 1`,
        );
        assert.match(
          await page.evaluate<string>(textOf("#net-in-value")),
          /^(\d+(\.\d)? [KMG]?i?B\/s|n\/a)$/,
        );
      });

      const name = `tester-${crypto.randomUUID().slice(0, 6)}`;
      await t.step(
        "naming yourself in the chat makes you present, typing shows you typing",
        async () => {
          await page.evaluate(`document.querySelector("#chat-name").focus()`);
          await page.type(name);
          await page.evaluate(`document.querySelector("#chat-join-button").click()`);
          await page.waitFor(
            `${name} is listed as present`,
            `!!document.querySelector('#chat-users [data-user="${name}"]')`,
          );
          const active = Number(await page.evaluate<string>(textOf("#chat-active-count")));
          assert.ok(active >= 1, `active users ${active}`);
          await waitForFeeds(page, ["chat"], "live");
          await page.evaluate(`document.querySelector("#chat-message").focus()`);
          await page.type("hello");
          await page.waitFor(
            `the room shows ${name} typing`,
            `(document.querySelector("#chat-typing").dataset.typing ?? "").split(",").includes(${
              JSON.stringify(name)
            })`,
          );
        },
      );

      await t.step("placing an order lights every step up to completed", async () => {
        await page.evaluate(`document.querySelector("#order-button").click()`);
        await page.waitFor(
          "the order completes",
          `${textOf("#order-status")} === "completed"`,
          { timeoutMs: 30_000 },
        );
        const steps = await page.evaluate<{ status: string; time: string }[]>(
          `[...document.querySelectorAll("#order-steps .step")].map((s) => ({
            status: s.dataset.status, time: s.querySelector(".step-time").textContent }))`,
        );
        assert.equal(steps.length, 6);
        for (const step of steps) {
          assert.equal(step.status, "completed");
          assert.match(step.time, /^\d\d:\d\d:\d\d/);
        }
        await waitForFeeds(page, ["order"], "done");
        const label = await page.evaluate<string>(textOf("#order-id"));
        const orderId = /order (\S+) ·/.exec(label)?.[1];
        assert.ok(orderId, `no order id in ${JSON.stringify(label)}`);
        const order = await (await fetch(`${server.url}/orders/${orderId}`)).json();
        assert.equal(order.status, "completed");
      });

      await t.step("the scoreboard shows scores, period and time left", async () => {
        await page.waitFor(
          "the scoreboard shows both scores and the time left",
          `/^\\d+$/.test(${textOf("#home-score")}) && /^\\d+$/.test(${textOf("#away-score")}) &&
            /^\\d{1,3}:\\d{2}$/.test(${textOf("#time-left")})`,
        );
        assert.match(await page.evaluate<string>(textOf("#game-status")), /^(live|final)$/);
        assert.match(await page.evaluate<string>(textOf("#game-period")), /^(Period \d+|Final)$/);
        assert.match(await page.evaluate<string>(textOf("#home-shots")), /^\d+$/);
        const { game } = await feedStates(page);
        assert.ok(game === "live" || game === "done", `game indicator ${game}`);
        await page.evaluate(`document.querySelector("#new-game").click()`);
        const newId = await page.evaluate<string>(textOf("#game-id"));
        assert.match(newId, /^game-[a-z0-9]+$/);
        await page.waitFor(
          `the new game ${newId} shows a score`,
          `/^\\d+$/.test(${textOf("#home-score")}) && /^\\d{1,3}:\\d{2}$/.test(${
            textOf("#time-left")
          })`,
        );
      });

      await t.step(
        "every shared indicator still reads live and the page logged no errors",
        async () => {
          await waitForFeeds(page, SHARED_FEEDS, "live");
          await Deno.writeFile(SCREENSHOT, await page.screenshot());
          assert.deepEqual(seriousProblems(page), []);
        },
      );
    } finally {
      await browser.close();
      await server.close();
    }
  },
});

Deno.test({
  name: "dashboard indicators show reconnecting while the server is down and live once it is back",
  ignore: skipBrowser,
  async fn() {
    const executable = requireChromium();
    let server = await startServer();
    const browser = await launchChromium({ executable });
    try {
      const page = await browser.newPage();
      await page.navigate(`${server.url}/`);
      await waitForFeeds(page, SHARED_FEEDS, "live");
      const port = server.port;
      await server.close();
      await waitForFeeds(page, SHARED_FEEDS, "reconnecting", 15_000);
      server = await startServer({ port });
      await waitForFeeds(page, SHARED_FEEDS, "live", 45_000);
      const before = await page.evaluate<string>(textOf("#clock-time"));
      await page.waitFor(
        "the clock ticks again after the restart",
        `(${textOf("#clock-time")}) !== ${JSON.stringify(before)}`,
        { timeoutMs: 5000 },
      );
      assert.deepEqual(seriousProblems(page), []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
});

/**
 * Watches a page's requests over the DevTools Network domain (enable it before navigating): the
 * event streams (requests that accept `text/event-stream`) still pending, the other requests still
 * pending, and the most event streams ever pending at once.
 */
async function watchRequests(page: Page) {
  const streams = new Map<string, string>();
  /** The `Last-Event-ID` each event stream was opened with ("" for none), by URL. */
  const resumedFrom = new Map<string, string>();
  const others = new Map<string, string>();
  const watched = { streams, others, resumedFrom, most: 0 };
  page.on("Network.requestWillBeSent", (params) => {
    const request = params.request as { url: string; headers: Record<string, string> };
    const accept = Object.entries(request.headers)
      .find(([name]) => name.toLowerCase() === "accept")?.[1] ?? "";
    const id = params.requestId as string;
    if (accept.includes("text/event-stream")) {
      streams.set(id, request.url);
      resumedFrom.set(
        request.url,
        Object.entries(request.headers)
          .find(([name]) => name.toLowerCase() === "last-event-id")?.[1] ?? "",
      );
      watched.most = Math.max(watched.most, streams.size);
    } else {
      others.set(id, request.url);
    }
  });
  for (const end of ["Network.loadingFinished", "Network.loadingFailed"]) {
    page.on(end, (params) => {
      streams.delete(params.requestId as string);
      others.delete(params.requestId as string);
    });
  }
  await page.send("Network.enable");
  return watched;
}

/** Polls (100 ms) until `condition` holds; fails naming `what` after `timeoutMs`. */
async function until(what: string, condition: () => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

Deno.test({
  name:
    "the dashboard holds one event stream for every panel, so a second tab and a publishing page of the origin still work",
  ignore: skipBrowser,
  async fn(t) {
    const executable = requireChromium();
    const server = await startServer();
    const browser = await launchChromium({ executable });
    try {
      const first = await browser.newPage();
      const requests = await watchRequests(first);
      await first.navigate(`${server.url}/`);

      await t.step("the dashboard is live on exactly one pending event stream", async () => {
        await waitForFeeds(first, [...SHARED_FEEDS, "game"], "live");
        await until(
          "the page's other requests are done",
          () => requests.others.size === 0,
        );
        const streams = [...requests.streams.values()].map((url) => new URL(url));
        assert.equal(streams.length, 1, `pending event streams: ${streams.join(", ")}`);
        assert.equal(streams[0].pathname, "/.well-known/mercure");
        assert.deepEqual(
          streams[0].searchParams.getAll("topic").sort(),
          ["chat", "clock", "games/demo", "stocks", "system"],
        );
        assert.equal(requests.most, 1);
      });

      await t.step(
        "a new game switches to one new stream that resumes after the last event",
        async () => {
          await first.evaluate(`document.querySelector("#new-game").click()`);
          const gameId = await first.evaluate<string>(textOf("#game-id"));
          await first.waitFor(
            `the new game ${gameId} shows a score`,
            `/^\\d+$/.test(${textOf("#home-score")})`,
          );
          await until("the old stream is gone", () => requests.streams.size === 1);
          const [url] = [...requests.streams.values()].map((href) => new URL(href));
          assert.ok(url.searchParams.getAll("topic").includes(`games/${gameId}`), url.href);
          assert.ok(!url.searchParams.getAll("topic").includes("games/demo"), url.href);
          assert.match(requests.resumedFrom.get(url.href) ?? "", /^urn:uuid:/, "Last-Event-ID");
          assert.ok(requests.most <= 2, `at most two streams, for the moment of the switch`);
        },
      );

      await t.step("a second tab of the dashboard comes alive beside the first", async () => {
        const second = await browser.newPage();
        await second.navigate(`${server.url}/`);
        await waitForFeeds(second, [...SHARED_FEEDS, "game"], "live");
        const before = await second.waitFor<string>(
          "the second tab's clock shows a time",
          `/^\\d\\d:\\d\\d:\\d\\d$/.test(${textOf("#clock-time")}) && ${textOf("#clock-time")}`,
        );
        await second.waitFor(
          "the second tab's clock ticks",
          `(${textOf("#clock-time")}) !== ${JSON.stringify(before)}`,
          { timeoutMs: 5000 },
        );
        assert.deepEqual(seriousProblems(second), []);
      });

      await t.step("a third page of the origin publishes with a fetch POST", async () => {
        const publisher = await browser.newPage();
        await publisher.navigate(`${server.url}/healthz`);
        const token = await mercureToken({ publish: ["*"] });
        const answer = await publisher.evaluate<string>(`(async () => {
          try {
            const response = await fetch("/.well-known/mercure", {
              method: "POST",
              headers: { authorization: "Bearer ${token}" },
              body: new URLSearchParams({ topic: "third-page", data: "hello" }),
              signal: AbortSignal.timeout(10000),
            });
            return response.status + " " + (await response.text());
          } catch (error) {
            return "failed: " + error.message;
          }
        })()`);
        assert.match(answer, /^200 urn:uuid:/);
      });

      assert.ok(requests.most < CONNECTIONS_PER_ORIGIN);
      assert.deepEqual(seriousProblems(first), []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
});

Deno.test({
  name:
    "a fresh dashboard draws each feed's newest earlier event at once (finished game, chat room), still on one stream",
  ignore: skipBrowser,
  async fn() {
    const executable = requireChromium();
    // No producers: whatever the page shows comes from the events published before it loaded.
    const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
    const browser = await launchChromium({ executable });
    try {
      const token = await mercureToken({ publish: ["*"] });
      const team = (name: string, score: number) => ({
        name,
        score,
        shots: 40,
        fouls: 12,
        timeouts: 0,
      });
      const updates = [
        {
          topic: "clock",
          type: "tick",
          data: { time: new Date().toISOString(), epochMs: Date.now() },
        },
        {
          topic: "chat",
          type: "chat_status",
          data: { users: ["ann"], typingUsers: [], activeUsers: 1, room: "lobby" },
        },
        {
          topic: "games/demo",
          type: "game_final",
          data: {
            gameId: "demo",
            homeTeam: team("Owls", 101),
            awayTeam: team("Foxes", 99),
            period: 4,
            timeLeft: "00:00",
            status: "final",
            lastPlay: "Final buzzer",
            lastUpdate: new Date().toISOString(),
          },
        },
      ];
      for (const { topic, type, data } of updates) {
        const response = await fetch(`${server.url}/.well-known/mercure`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}` },
          body: new URLSearchParams({ topic, type, data: JSON.stringify(data) }),
        });
        assert.equal(response.status, 200, await response.text());
      }
      const page = await browser.newPage();
      const requests = await watchRequests(page);
      await page.navigate(`${server.url}/`);
      await page.waitFor(
        "the scoreboard shows the final score",
        `${textOf("#home-score")} === "101" && ${textOf("#away-score")} === "99" &&
          ${textOf("#game-status")} === "final"`,
      );
      await waitForFeeds(page, ["game"], "done");
      await page.waitFor("the chat room counts ann", `${textOf("#chat-active-count")} === "1"`);
      await page.waitFor(
        "the clock shows the published tick",
        `/^\\d\\d:\\d\\d:\\d\\d$/.test(${textOf("#clock-time")})`,
      );
      await waitForFeeds(page, ["clock", "chat"], "live");
      await until("the page's other requests are done", () => requests.others.size === 0);
      assert.equal(requests.streams.size, 1);
      assert.equal(requests.most, 1);
      assert.deepEqual(seriousProblems(page), []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
});
