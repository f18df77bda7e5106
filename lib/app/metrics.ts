/**
 * Counters, latency histograms and connection counts of one isolate, shared with the other
 * isolates of the process over a BroadcastChannel (each isolate posts its full snapshot every
 * 250 ms, so a dropped message costs nothing). Connection limits and `/metrics` use the sum.
 *
 * @module
 */

const BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

/** A latency histogram with fixed buckets in milliseconds. */
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
   * Connections open in the whole process, overall and for one client address.
   */
  processConnections(ip: string): { total: number; forIp: number } {
    let total = this.connections;
    let forIp = this.perIp.get(ip) ?? 0;
    for (const snapshot of this.#fresh()) {
      total += snapshot.connections;
      forIp += snapshot.perIp[ip] ?? 0;
    }
    return { total, forIp };
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
   * The Prometheus text exposition of the whole process.
   */
  render(): string {
    const snapshots = [this.snapshot(), ...this.#fresh()];
    const lines: string[] = [];
    const sum = (pick: (snapshot: Snapshot) => number) =>
      snapshots.reduce((total, snapshot) => total + pick(snapshot), 0);
    lines.push("# TYPE tidings_open_connections gauge");
    lines.push(`tidings_open_connections ${sum((s) => s.connections)}`);
    lines.push("# TYPE tidings_isolates gauge", `tidings_isolates ${snapshots.length}`);
    // Isolates share the process: its resident memory is counted once, their heaps add up.
    lines.push("# TYPE tidings_process_resident_memory_bytes gauge");
    lines.push(`tidings_process_resident_memory_bytes ${Deno.memoryUsage().rss}`);
    for (const [name, pick] of HEAP_GAUGES) {
      lines.push(`# TYPE tidings_${name} gauge`, `tidings_${name} ${sum((s) => pick(s.heap))}`);
    }
    const counterNames = new Set(snapshots.flatMap((s) => Object.keys(s.counters)));
    for (const name of [...counterNames].sort()) {
      lines.push(`tidings_${name} ${sum((s) => s.counters[name] ?? 0)}`);
    }
    const topics = new Map<string, number>();
    for (const snapshot of snapshots) {
      for (const [topic, count] of Object.entries(snapshot.topics)) {
        topics.set(topic, (topics.get(topic) ?? 0) + count);
      }
    }
    lines.push("# TYPE tidings_topic_subscribers gauge");
    for (const [topic, count] of [...topics].sort((a, b) => b[1] - a[1]).slice(0, 50)) {
      lines.push(`tidings_topic_subscribers{topic=${JSON.stringify(topic)}} ${count}`);
    }
    for (const name of Object.keys(this.histograms)) {
      lines.push(`# TYPE tidings_${name} histogram`);
      let cumulative = 0;
      BUCKETS_MS.forEach((bound, index) => {
        cumulative += sum((s) => s.histograms[name]?.counts[index] ?? 0);
        lines.push(`tidings_${name}_bucket{le="${bound}"} ${cumulative}`);
      });
      cumulative += sum((s) => s.histograms[name]?.counts[BUCKETS_MS.length] ?? 0);
      lines.push(`tidings_${name}_bucket{le="+Inf"} ${cumulative}`);
      lines.push(`tidings_${name}_sum ${sum((s) => s.histograms[name]?.sum ?? 0)}`);
      lines.push(`tidings_${name}_count ${cumulative}`);
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
