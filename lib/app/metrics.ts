/**
 * Counters, latency histograms and connection counts of one isolate, shared with the other
 * isolates of the process over a BroadcastChannel (each isolate posts its full snapshot every
 * 250 ms, so a dropped message costs nothing). `/metrics` shows the sum; connection limits are
 * enforced exactly by `connection_budget.ts`, not from these figures.
 *
 * `/metrics` follows the Prometheus conventions (`promtool check metrics` passes): every family
 * has `# HELP` and `# TYPE` (the catalogue {@link FAMILIES}), counters and only counters end in
 * `_total`, durations are in seconds. Histograms observe milliseconds (what `performance.now()`
 * gives) and are exposed in seconds. Subscribers per topic name what people subscribe to, so
 * anonymous readers only see the public topics (the demo feeds); the rest need the metrics token.
 *
 * @module
 */

const BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

/** A latency histogram with fixed buckets; observations in milliseconds. */
export class Histogram {
  counts: number[] = new Array(BUCKETS_MS.length + 1).fill(0);
  sum = 0;
  /**
   * Records one observation.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Histogram } from "./metrics.ts";
   * const histogram = new Histogram();
   * histogram.observe(3);
   * assert.equal(histogram.sum, 3);
   * assert.equal(histogram.counts[3], 1); // the bucket "at most 5 ms"
   * ```
   */
  observe(ms: number): void {
    let index = BUCKETS_MS.findIndex((bound) => ms <= bound);
    if (index === -1) index = BUCKETS_MS.length;
    this.counts[index]++;
    this.sum += ms;
  }
}

/** What a metric family is: its Prometheus type and its help text. */
export interface Family {
  type: "counter" | "gauge" | "histogram";
  help: string;
}

/**
 * Every family `/metrics` exposes, by name without the `tidings_` prefix, in exposition order.
 * Histograms are keyed by their exposed name; {@link HISTOGRAM_SOURCES} says what feeds them.
 */
export const FAMILIES: Readonly<Record<string, Family>> = {
  open_connections: {
    type: "gauge",
    help: "Event streams (SSE and WebSocket) open in the process.",
  },
  isolates: { type: "gauge", help: "Isolates of the process that reported in the last 2 s." },
  process_resident_memory_bytes: {
    type: "gauge",
    help: "Resident memory of the process (shared by its isolates, counted once).",
  },
  heap_used_bytes: { type: "gauge", help: "V8 heap in use, summed over the isolates." },
  heap_total_bytes: { type: "gauge", help: "V8 heap reserved, summed over the isolates." },
  heap_external_bytes: {
    type: "gauge",
    help: "Memory of JavaScript objects held outside the V8 heap, summed over the isolates.",
  },
  topic_subscribers: {
    type: "gauge",
    help: "Subscribers per topic, top 50 (public topics only, unless the metrics token is given).",
  },
  connections_opened_total: { type: "counter", help: "Event streams opened." },
  events_published_total: {
    type: "counter",
    help: "Updates accepted by POST /.well-known/mercure.",
  },
  events_committed_total: {
    type: "counter",
    help: "Updates this process committed to the KV log (publishes and demo feeds).",
  },
  events_delivered_total: {
    type: "counter",
    help: "Updates written to subscribers' event streams.",
  },
  kv_commits_total: {
    type: "counter",
    help: "KV commits of the log (one commit carries one or more updates).",
  },
  kv_commit_conflicts_total: {
    type: "counter",
    help: "KV commits of the log that lost a race for the head and were retried.",
  },
  broker_delivered_total: {
    type: "counter",
    help: "Log positions handed to the fan-out, summed over the isolates (each gets every one).",
  },
  broker_gaps_filled_total: {
    type: "counter",
    help: "Gaps in the live feed of positions that were read back from KV.",
  },
  broker_gap_events_total: { type: "counter", help: "Updates read from KV to fill gaps." },
  broker_duplicates_dropped_total: {
    type: "counter",
    help: "Positions that arrived twice (channel and KV) and were dropped.",
  },
  connection_budget_commits_total: {
    type: "counter",
    help: "Commits to the connection-budget ledger (an isolate borrowing or returning share).",
  },
  connection_budget_conflicts_total: {
    type: "counter",
    help: "Connection-budget commits that lost to another isolate's and were retried.",
  },
  connection_budget_reclaims_total: {
    type: "counter",
    help: "Times an isolate asked the others to give back unused connection share.",
  },
  orders_live: {
    type: "gauge",
    help: "Orders the isolates run or stand by to take over right now.",
  },
  games_live: {
    type: "gauge",
    help: "Demo games the isolates run or stand by to take over right now.",
  },
  replays_total: {
    type: "counter",
    help: "Subscriptions that started with a replay from the log (Last-Event-ID).",
  },
  refusals_total: {
    type: "counter",
    help: "Requests refused, by reason (the HTTP status, or the connection limit hit).",
  },
  slow_consumer_disconnects_total: {
    type: "counter",
    help: "Event streams closed because the client stopped reading and its buffer filled up.",
  },
  publish_latency_seconds: {
    type: "histogram",
    help: "Time to accept a publish: from the request to its KV commit.",
  },
  kv_commit_latency_seconds: { type: "histogram", help: "Duration of one KV commit of the log." },
};

/** The exposed histogram family of each `Metrics.histograms` entry (which observe milliseconds). */
export const HISTOGRAM_SOURCES: Readonly<Record<string, string>> = {
  publish_latency_seconds: "publish_latency_ms",
  kv_commit_latency_seconds: "kv_commit_latency_ms",
};

/** The help text given to a family missing from {@link FAMILIES} (tests look for it). */
export const UNDESCRIBED = "not described in lib/metrics.ts FAMILIES";

/**
 * A label value escaped for the Prometheus text format (backslash, double quote, line feed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { labelValue } from "./metrics.ts";
 * assert.equal(labelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
 * ```
 */
export function labelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** Who reads `/metrics`: anonymous readers see per-topic figures of public topics only. */
export interface RenderOptions {
  /** Show subscribers of every topic (the reader gave the metrics token). */
  allTopics?: boolean;
}

/** One isolate's figures, as gossiped. */
export interface Snapshot {
  isolate: string;
  at: number;
  connections: number;
  perIp: Record<string, number>;
  counters: Record<string, number>;
  topics: Record<string, number>;
  histograms: Record<string, { counts: number[]; sum: number }>;
  /** This isolate's V8 heap, bytes. */
  heap: { used: number; total: number; external: number };
}

const channel = new BroadcastChannel("tidings-metrics");

const HEAP_GAUGES: Array<[string, (heap: Snapshot["heap"]) => number]> = [
  ["heap_used_bytes", (heap) => heap.used],
  ["heap_total_bytes", (heap) => heap.total],
  ["heap_external_bytes", (heap) => heap.external],
];

/**
 * The metrics of this isolate, plus what the other isolates last said.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Metrics } from "./metrics.ts";
 * const metrics = new Metrics();
 * metrics.count("events_published_total");
 * metrics.count('refusals_total{reason="rate"}', 2);
 * const exposition = metrics.render();
 * assert.match(exposition, /^tidings_events_published_total 1$/m);
 * assert.match(exposition, /^tidings_refusals_total\{reason="rate"\} 2$/m);
 * metrics.close();
 * ```
 */
export class Metrics {
  readonly isolate: string = crypto.randomUUID();
  readonly counters: Record<string, number> = {};
  readonly histograms: Record<string, Histogram> = {
    publish_latency_ms: new Histogram(),
    kv_commit_latency_ms: new Histogram(),
  };
  /** Deliveries to subscribers (events sent). */
  delivered = 0;
  /** Extra counters read at render time (broker, hub). */
  sources: Array<() => Record<string, number>> = [];
  /** Subscribers per topic, read at render time. */
  topicSource: () => Array<[string, number]> = () => [];
  /** Topics whose subscriber counts anyone may read (the demo feeds'). */
  publicTopics: ReadonlySet<string> = new Set();
  connections = 0;
  readonly perIp = new Map<string, number>();
  #others = new Map<string, Snapshot>();
  #timer: ReturnType<typeof setInterval>;
  #onMessage = (event: MessageEvent<Snapshot>) => this.#others.set(event.data.isolate, event.data);

  constructor() {
    channel.addEventListener("message", this.#onMessage);
    this.#timer = setInterval(() => {
      try {
        channel.postMessage(this.snapshot());
      } catch {
        // best effort
      }
    }, 250);
    Deno.unrefTimer(this.#timer);
  }

  /**
   * Adds to a counter (`refusals_total{reason="…"}` style names are allowed).
   */
  count(name: string, by = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + by;
  }

  /** Other isolates' fresh snapshots (seen within 2 s). */
  #fresh(): Snapshot[] {
    const now = Date.now();
    return [...this.#others.values()].filter((snapshot) => now - snapshot.at < 2000);
  }

  /**
   * Counts an opened connection for `ip`.
   */
  connectionOpened(ip: string): void {
    this.connections++;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    this.count("connections_opened_total");
  }

  /**
   * Counts a closed connection for `ip`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Metrics } from "./metrics.ts";
   * const metrics = new Metrics();
   * metrics.connectionOpened("10.0.0.1");
   * assert.equal(metrics.connections, 1);
   * metrics.connectionClosed("10.0.0.1");
   * assert.equal(metrics.connections, 0);
   * metrics.close();
   * ```
   */
  connectionClosed(ip: string): void {
    this.connections--;
    const left = (this.perIp.get(ip) ?? 1) - 1;
    if (left <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, left);
  }

  /**
   * This isolate's figures.
   */
  snapshot(): Snapshot {
    const counters: Record<string, number> = {
      ...this.counters,
      events_delivered_total: this.delivered,
    };
    for (const source of this.sources) Object.assign(counters, source());
    const histograms: Snapshot["histograms"] = {};
    for (const [name, histogram] of Object.entries(this.histograms)) {
      histograms[name] = { counts: histogram.counts, sum: histogram.sum };
    }
    const memory = Deno.memoryUsage();
    return {
      isolate: this.isolate,
      at: Date.now(),
      heap: { used: memory.heapUsed, total: memory.heapTotal, external: memory.external },
      connections: this.connections,
      perIp: Object.fromEntries(this.perIp),
      counters,
      topics: Object.fromEntries(this.topicSource()),
      histograms,
    };
  }

  /**
   * The Prometheus text exposition of the whole process: every family with `# HELP` and
   * `# TYPE`, its samples together. Subscribers per topic only for {@link publicTopics} unless
   * `allTopics`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Metrics } from "./metrics.ts";
   * const metrics = new Metrics();
   * metrics.publicTopics = new Set(["clock"]);
   * metrics.topicSource = () => [["clock", 2], ["/users/alice/inbox", 1]];
   * const text = metrics.render();
   * assert.match(text, /^# TYPE tidings_open_connections gauge\ntidings_open_connections 0$/m);
   * assert.match(text, /^tidings_topic_subscribers\{topic="clock"\} 2$/m);
   * assert.ok(!text.includes("alice"));
   * assert.ok(metrics.render({ allTopics: true }).includes('{topic="/users/alice/inbox"} 1'));
   * metrics.close();
   * ```
   */
  render(options: RenderOptions = {}): string {
    const snapshots = [this.snapshot(), ...this.#fresh()];
    const sum = (pick: (snapshot: Snapshot) => number) =>
      snapshots.reduce((total, snapshot) => total + pick(snapshot), 0);
    const samples = new Map<string, string[]>();
    const add = (family: string, line: string) => {
      const lines = samples.get(family);
      if (lines) lines.push(line);
      else samples.set(family, [line]);
    };
    add("open_connections", `tidings_open_connections ${sum((s) => s.connections)}`);
    add("isolates", `tidings_isolates ${snapshots.length}`);
    // Isolates share the process: its resident memory is counted once, their heaps add up.
    const rss = Deno.memoryUsage().rss;
    add("process_resident_memory_bytes", `tidings_process_resident_memory_bytes ${rss}`);
    for (const [name, pick] of HEAP_GAUGES) {
      add(
        name,
        `tidings_${name} ${sum((s) => pick(s.heap))}`,
      );
    }
    const counterNames = new Set(snapshots.flatMap((s) => Object.keys(s.counters)));
    for (const [name, family] of Object.entries(FAMILIES)) {
      // Counters without labels are always there, so rate() works from the first scrape.
      if (family.type === "counter" && !counterNames.has(name)) add(name, `tidings_${name} 0`);
    }
    for (const name of [...counterNames].sort()) {
      add(name.split("{")[0], `tidings_${name} ${sum((s) => s.counters[name] ?? 0)}`);
    }
    const topics = new Map<string, number>();
    for (const snapshot of snapshots) {
      for (const [topic, count] of Object.entries(snapshot.topics)) {
        if (!options.allTopics && !this.publicTopics.has(topic)) continue;
        topics.set(topic, (topics.get(topic) ?? 0) + count);
      }
    }
    for (const [topic, count] of [...topics].sort((a, b) => b[1] - a[1]).slice(0, 50)) {
      add("topic_subscribers", `tidings_topic_subscribers{topic="${labelValue(topic)}"} ${count}`);
    }
    for (const [family, source] of Object.entries(HISTOGRAM_SOURCES)) {
      const name = `tidings_${family}`;
      let cumulative = 0;
      BUCKETS_MS.forEach((bound, index) => {
        cumulative += sum((s) => s.histograms[source]?.counts[index] ?? 0);
        add(family, `${name}_bucket{le="${bound / 1000}"} ${cumulative}`);
      });
      cumulative += sum((s) => s.histograms[source]?.counts[BUCKETS_MS.length] ?? 0);
      add(family, `${name}_bucket{le="+Inf"} ${cumulative}`);
      add(family, `${name}_sum ${sum((s) => s.histograms[source]?.sum ?? 0) / 1000}`);
      add(family, `${name}_count ${cumulative}`);
    }
    const lines: string[] = [];
    const known = Object.keys(FAMILIES).filter((name) => samples.has(name));
    const unknown = [...samples.keys()].filter((name) => !Object.hasOwn(FAMILIES, name)).sort();
    for (const name of [...known, ...unknown]) {
      const family = FAMILIES[name] ??
        { type: name.endsWith("_total") ? "counter" : "gauge", help: UNDESCRIBED };
      lines.push(`# HELP tidings_${name} ${family.help}`, `# TYPE tidings_${name} ${family.type}`);
      lines.push(...samples.get(name)!);
    }
    return lines.join("\n") + "\n";
  }

  /**
   * Stops gossiping.
   */
  close(): void {
    clearInterval(this.#timer);
    channel.removeEventListener("message", this.#onMessage);
  }
}
