import assert from "node:assert/strict";
import { startServer } from "./support/server.ts";
import { type EventStreamHandle, openSubscribed, publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { waitUntil } from "./support/hub_probe.ts";
import { UNDESCRIBED } from "../lib/app/metrics.ts";

/** One metric family as read from an exposition. */
interface ParsedFamily {
  help?: string;
  type?: string;
  samples: Array<{ name: string; labels: Map<string, string>; value: number }>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** A Prometheus float: JavaScript's `Number` does not read `+Inf`. */
const float = (text: string) =>
  /^[+-]?Inf$/i.test(text) ? (text.startsWith("-") ? -Infinity : Infinity) : Number(text);

const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Reads `{a="x",b="y"}` strictly: quoted values, only `\\`, `\"` and `\n` escapes. */
function parseLabels(text: string, line: string): Map<string, string> {
  const labels = new Map<string, string>();
  let at = 0;
  while (at < text.length) {
    const equals = text.indexOf("=", at);
    assert.ok(equals > at, `label without a name in ${JSON.stringify(line)}`);
    const name = text.slice(at, equals);
    assert.match(name, LABEL_NAME, `label name ${JSON.stringify(name)} in ${line}`);
    assert.ok(!name.startsWith("__"), `reserved label name ${name}`);
    assert.ok(!labels.has(name), `label ${name} twice in ${line}`);
    assert.equal(text[equals + 1], '"', `label value of ${name} is quoted in ${line}`);
    let value = "";
    let index = equals + 2;
    for (; index < text.length && text[index] !== '"'; index++) {
      if (text[index] === "\\") {
        const escaped = text[++index];
        assert.ok(["\\", '"', "n"].includes(escaped), `bad escape \\${escaped} in ${line}`);
        value += escaped === "n" ? "\n" : escaped;
      } else {
        value += text[index];
      }
    }
    assert.equal(text[index], '"', `label value of ${name} ends in ${line}`);
    labels.set(name, value);
    at = index + 1;
    if (at < text.length) {
      assert.equal(text[at], ",", `labels are separated by commas in ${line}`);
      at++;
    }
  }
  return labels;
}

/** The family a sample belongs to, given the families declared so far. */
function familyOf(name: string, families: Map<string, ParsedFamily>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && families.get(base)?.type === "histogram") return base;
  }
  return name;
}

/**
 * Parses a Prometheus text exposition (format 0.0.4) strictly: every sample's family has HELP and
 * TYPE before its samples, families are contiguous and declared once, names and labels are valid,
 * no sample appears twice.
 */
function parseExposition(text: string): Map<string, ParsedFamily> {
  assert.ok(text.endsWith("\n"), "the exposition ends with a line feed");
  const families = new Map<string, ParsedFamily>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current: string | undefined;
  const enter = (name: string) => {
    if (current === name) return;
    assert.ok(!closed.has(name), `family ${name} appears in two places`);
    if (current !== undefined) closed.add(current);
    current = name;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    assert.notEqual(line, "", "no empty lines");
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      assert.match(name, METRIC_NAME, `family name ${name}`);
      enter(name);
      const family = families.get(name) ?? { samples: [] };
      families.set(name, family);
      assert.equal(family.samples.length, 0, `${kind} of ${name} comes before its samples`);
      if (kind === "HELP") {
        assert.equal(family.help, undefined, `HELP of ${name} once`);
        assert.ok(rest.trim().length > 0, `HELP of ${name} says something`);
        family.help = rest;
      } else {
        assert.equal(family.type, undefined, `TYPE of ${name} once`);
        assert.ok(TYPES.has(rest), `TYPE of ${name} is ${rest}`);
        family.type = rest;
      }
      continue;
    }
    assert.ok(!line.startsWith("#"), `no stray comment: ${line}`);
    const sample = /^([^{\s]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(sample, `sample line ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = sample;
    assert.match(name, METRIC_NAME, `metric name ${name}`);
    assert.match(valueText, /^(?:[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+)|NaN|[+-]Inf)$/i, line);
    const familyName = familyOf(name, families);
    enter(familyName);
    const family = families.get(familyName);
    assert.ok(family?.help !== undefined, `${familyName} has # HELP`);
    assert.ok(family.type !== undefined, `${familyName} has # TYPE`);
    const labels = parseLabels(labelText ?? "", line);
    const key = `${name}{${[...labels].sort().map(([k, v]) => `${k}=${v}`).join(",")}}`;
    assert.ok(!seen.has(key), `sample ${key} appears once`);
    seen.add(key);
    family.samples.push({ name, labels, value: float(valueText) });
  }
  return families;
}

/** The Prometheus naming conventions `promtool check metrics` lints. */
function assertConventions(families: Map<string, ParsedFamily>): void {
  for (const [name, family] of families) {
    assert.ok(name.startsWith("tidings_"), `${name} is namespaced`);
    assert.notEqual(family.help, UNDESCRIBED, `${name} is described in lib/metrics.ts FAMILIES`);
    assert.equal(
      name.endsWith("_total"),
      family.type === "counter",
      `_total on counters only: ${name}`,
    );
    assert.doesNotMatch(name, /_(ms|us|ns|milliseconds|kb|mb|percent)(_|$)/, `${name}: base units`);
    if (family.type === "histogram") {
      const buckets = family.samples.filter((s) => s.name === `${name}_bucket`);
      const bounds = buckets.map((s) => float(s.labels.get("le") ?? ""));
      assert.equal(bounds.at(-1), Infinity, `${name} ends with le="+Inf"`);
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(bounds[i] > bounds[i - 1], `${name} bounds increase`);
        assert.ok(buckets[i].value >= buckets[i - 1].value, `${name} buckets are cumulative`);
      }
      const count = family.samples.find((s) => s.name === `${name}_count`)?.value;
      assert.equal(count, buckets.at(-1)?.value, `${name}_count equals the +Inf bucket`);
      assert.ok(family.samples.some((s) => s.name === `${name}_sum`), `${name}_sum`);
    }
  }
}

const METRICS_TOKEN = "metrics-token-for-tidings-tests";
const PRIVATE_TOPIC = '/users/alice/inbox "quoted" \\ back';

async function withBusyHub(
  check: (url: string) => Promise<void>,
): Promise<void> {
  const server = await startServer({
    env: { TIDINGS_SUBSCRIPTION_EVENTS: "off", TIDINGS_METRICS_TOKEN: METRICS_TOKEN },
  });
  const streams: EventStreamHandle[] = [];
  try {
    const mercure = `${server.url}/.well-known/mercure`;
    streams.push(await openSubscribed(`${mercure}?topic=clock`));
    streams.push(await openSubscribed(`${mercure}?topic=${encodeURIComponent(PRIVATE_TOPIC)}`));
    const refused = await fetch(`${mercure}?topic=news&filter=bad`);
    assert.equal(refused.status, 400);
    await refused.body?.cancel();
    const token = await mercureToken({ publish: ["*"] });
    assert.equal((await publish(server.url, token, { topic: "news", data: "x" })).status, 200);
    await check(server.url);
  } finally {
    for (const stream of streams) await stream.close();
    await server.close();
  }
}

const readExposition = async (url: string, token?: string) => {
  const response = await fetch(`${url}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return text;
};

Deno.test("every /metrics family has HELP and TYPE, follows the naming conventions and parses strictly", async () => {
  await withBusyHub(async (url) => {
    let families = new Map<string, ParsedFamily>();
    await waitUntil("the refusal and the publish to be counted", async () => {
      families = parseExposition(await readExposition(url, METRICS_TOKEN));
      return families.get("tidings_events_published_total")?.samples[0].value === 1;
    });
    assertConventions(families);
    const names = [...families.keys()];
    for (
      const name of [
        "tidings_open_connections",
        "tidings_topic_subscribers",
        "tidings_broker_delivered_total",
        "tidings_refusals_total",
        "tidings_publish_latency_seconds",
        "tidings_kv_commit_latency_seconds",
      ]
    ) {
      assert.ok(names.includes(name), `${name} is exposed`);
    }
    assert.equal(families.get("tidings_broker_delivered_total")?.type, "counter");
    assert.equal(families.get("tidings_publish_latency_seconds")?.type, "histogram");
    const topics = families.get("tidings_topic_subscribers")!.samples;
    assert.deepEqual(
      topics.map((s) => [s.labels.get("topic"), s.value]).sort(),
      [["clock", 1], [PRIVATE_TOPIC, 1]].sort(),
      "a topic with quotes and a backslash round-trips through the label escaping",
    );
  });
});

Deno.test("anonymous /metrics shows subscribers of public topics only; the metrics token shows all", async () => {
  await withBusyHub(async (url) => {
    const anonymous = await readExposition(url);
    assertConventions(parseExposition(anonymous));
    assert.match(anonymous, /^tidings_topic_subscribers\{topic="clock"\} 1$/m);
    assert.ok(!anonymous.includes("alice"), "a private topic's name is not shown anonymously");
    assert.match(anonymous, /^tidings_open_connections 2$/m);
    assert.ok((await readExposition(url, METRICS_TOKEN)).includes("alice"));
    const wrong = await fetch(`${url}/metrics`, {
      headers: { authorization: "Bearer not-the-metrics-token" },
    });
    assert.deepEqual([wrong.status, await wrong.text()], [401, "wrong metrics token\n"]);
  });
});

const promtool = await new Deno.Command("promtool", { args: ["--version"], stdout: "null" })
  .output().then((output) => output.success).catch(() => false);

Deno.test({
  name: "promtool check metrics finds nothing to lint in a live /metrics",
  ignore: !promtool,
  fn: async () => {
    await withBusyHub(async (url) => {
      const child = new Deno.Command("promtool", {
        args: ["check", "metrics"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(await readExposition(url, METRICS_TOKEN)));
      await writer.close();
      const output = await child.output();
      const report = new TextDecoder().decode(output.stdout) +
        new TextDecoder().decode(output.stderr);
      assert.equal(report, "");
      assert.equal(output.code, 0);
    });
  },
});
