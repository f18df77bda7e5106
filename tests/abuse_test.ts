/**
 * Abuse tests against the real server, on both listeners (deno serve and the direct listener):
 * URI-template selectors built to make matching slow, topics and selectors too long for a KV key
 * (in UTF-8 bytes), and subscriptions with too many selectors. While under attack, `/healthz` must
 * keep answering promptly (no probe stalled; the attack stalled the loop for seconds before issue
 * 11's caps) and other clients' publishes must succeed and be delivered. The latency itself (issue
 * 11's bound is 50 ms) is measured, not asserted to the millisecond: it is printed with each run,
 * and a loaded test machine must not make the suite flaky.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hubUrl } from "./support/mercure.ts";
import { type RunningServer, startServer } from "./support/server.ts";
import { type EventStreamHandle, openSubscribed, publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";

const LISTENERS = [
  { name: "deno serve", direct: false },
  { name: "direct listener", direct: true },
];

/** The slowest template the caps allow: eight nullable, overlapping variables, then no match. */
const worstTemplate = (tag: string) =>
  `${Array.from({ length: 8 }, (_, i) => `{+v${i}}`).join("x")}!n${tag}`;

/** A selector of 1,000 bytes whose subscription topic (percent-encoded) is ~1.9 KB. */
const longSelector = (tag: string) => `${tag}-`.padEnd(400, "/").padEnd(1000, "a");

async function subscribeStatus(server: RunningServer, topics: string[], token?: string) {
  const response = await fetch(hubUrl(server.url, topics.map((topic) => ["topic", topic])), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  let body = "";
  if (response.status === 200) await response.body?.cancel();
  else body = await response.text();
  return { status: response.status, body };
}

/** Polls `/healthz` until `stop` resolves; returns the latencies seen, ms. */
async function probeHealth(server: RunningServer, stop: Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  let stopped = false;
  stop.then(() => stopped = true);
  while (!stopped) {
    const started = performance.now();
    const response = await fetch(`${server.url}/healthz`);
    await response.body?.cancel();
    latencies.push(performance.now() - started);
    assert.equal(response.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return latencies;
}

for (const { name, direct } of LISTENERS) {
  Deno.test(`${name}: selectors and topics past the caps are refused with 400, never a 500`, async () => {
    const server = await startServer({ direct, env: { TIDINGS_DEMO_FEEDS: "off" } });
    try {
      const token = await mercureToken({ publish: ["*"], subscribe: ["*"] });
      const cases: Array<[string[], string | undefined, RegExp]> = [
        [
          [Array.from({ length: 32 }, (_, i) => `{+v${i}}`).join("") + "!n"],
          undefined,
          /variables/,
        ],
        [["/".repeat(1024)], undefined, /subscription topic/],
        [["€".repeat(400)], undefined, /bytes \(UTF-8\)/],
        [[`/${"a".repeat(300)}/{id}`], undefined, /URI template of 306 bytes/],
        [Array.from({ length: 17 }, (_, i) => `t${i}`), undefined, /anonymous/],
        [Array.from({ length: 17 }, (_, i) => `t${i}/{id}`), token, /URI template selectors/],
      ];
      for (const [topics, withToken, reason] of cases) {
        const { status, body } = await subscribeStatus(server, topics, withToken);
        assert.equal(status, 400, `${topics[0].slice(0, 40)}: ${body}`);
        assert.match(body, reason);
      }
      const euros = await publish(server.url, token, { topic: "€".repeat(1024), data: "x" });
      assert.equal(euros.status, 400, euros.body);
      assert.match(euros.body, /1024 bytes/);
      const ok = await publish(server.url, token, { topic: "€".repeat(341), data: "x" });
      assert.equal(ok.status, 200, ok.body);
      // Selectors whose subscription topics are nearly as long as a KV key allows are accepted.
      const fits = await subscribeStatus(server, [0, 1, 2, 3].map((i) => longSelector(`${i}`)));
      assert.equal(fits.status, 200, fits.body);
    } finally {
      await server.close();
    }
  });

  Deno.test(`${name}: under template and long-topic abuse the event loop never stalls (every /healthz probe within 500 ms, nine in ten within 150) and publishes are delivered`, async () => {
    const server = await startServer({ direct, env: { TIDINGS_DEMO_FEEDS: "off" } });
    const streams: EventStreamHandle[] = [];
    let stopAttack = () => {};
    try {
      const token = await mercureToken({ publish: ["*"] });
      const reader = await openSubscribed(hubUrl(server.url, { topic: "legit" }));
      streams.push(reader);
      // Four anonymous connections, each with sixteen distinct worst-case templates.
      for (let connection = 0; connection < 4; connection++) {
        const topics = Array.from({ length: 16 }, (_, i) => worstTemplate(`${connection}-${i}`));
        streams.push(
          await openSubscribed(hubUrl(server.url, topics.map((topic) => ["topic", topic]))),
        );
      }
      const attackOver = new Promise<void>((resolve) => stopAttack = resolve);
      const health = probeHealth(server, attackOver);
      health.catch(() => {}); // reported below, where it is awaited
      // Churn: connections with four selectors as long as fits (and as a URL holds) come and go,
      // each putting eight subscription events of ~1.9 KB topics in front of every template.
      let churned = 0;
      const churn = async () => {
        while (churned < 40) {
          churned++;
          const long = [0, 1, 2, 3].map((i) => longSelector(`${i}-${churned}`));
          const stream = await openSubscribed(
            hubUrl(server.url, long.map((topic) => ["topic", topic])),
          );
          await stream.close();
        }
      };
      const published: string[] = [];
      const publisher = async () => {
        for (let n = 0; n < 20; n++) {
          const result = await publish(server.url, token, { topic: "legit", data: `n${n}` });
          assert.equal(result.status, 200, result.body);
          published.push(`n${n}`);
        }
      };
      await Promise.all([churn(), churn(), publisher()]);
      const events = await reader.waitFor(20);
      stopAttack();
      const latencies = await health;
      assert.deepEqual(events.map((event) => event.data), published);
      assert.ok(latencies.length > 5, `only ${latencies.length} probes`);
      // A stalled event loop (seconds before issue 11's caps) fails both bounds; a busy shared test
      // machine neither. The figure itself (issue 11 wants under 50 ms) is printed for the record.
      const sorted = latencies.toSorted((a, b) => a - b);
      const p90 = sorted[Math.floor(0.9 * (sorted.length - 1))];
      const seen = `/healthz latencies: ${sorted.map((ms) => Math.round(ms)).join(" ")} ms`;
      console.log(
        `${name}: /healthz under attack: p90 ${Math.round(p90)} ms, max ${
          Math.round(sorted[sorted.length - 1])
        } ms (${sorted.length} probes)`,
      );
      assert.ok(p90 < 150, seen);
      assert.ok(sorted[sorted.length - 1] < 500, seen);
    } finally {
      stopAttack();
      await Promise.all(streams.map((stream) => stream.close()));
      await server.close();
    }
  });
}
