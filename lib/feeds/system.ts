/**
 * The system feed: real metrics of the host, nothing invented. Each metric comes from Linux's
 * `/proc` (or a runtime API when `/proc` is missing) and is null when the platform cannot give it
 * (no permission, no file, as on Deno Deploy).
 *
 * Permissions (Deno 2.9): reading `/proc` needs `--allow-all`; without it CPU and memory come from
 * `--allow-sys=cpus,systemMemoryInfo` and network rates are null. Disk needs
 * `--allow-sys=statfs`, the load average `--allow-sys=loadavg`.
 *
 * @module
 */

import { sleep } from "../util/abortable.ts";
import { type FeedEvent, type FeedOptions, isoTime, scaledMs } from "./feed.ts";
import {
  cpuPercent,
  type MetricSources,
  type NetworkTotals,
  type RawSample,
  readCpuTimes,
  readDiskPercent,
  readLoadAverage,
  readMemoryPercent,
  readNetworkTotals,
} from "./host_metrics.ts";

function metricSources(overrides: Partial<MetricSources>): MetricSources {
  let diskPath = overrides.diskPath;
  if (diskPath === undefined) {
    try {
      diskPath = Deno.cwd();
    } catch {
      diskPath = "/";
    }
  }
  const defaults = { stat: "/proc/stat", meminfo: "/proc/meminfo", netDev: "/proc/net/dev" };
  return { ...defaults, fallbacks: true, ...overrides, diskPath };
}

/**
 * Reads every source once (the real `/proc` files unless overridden); each field is null on its
 * own failure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { takeSample } from "./system.ts";
 * const sample = await takeSample({ netDev: "/no/such/file" });
 * assert.equal(sample.network, null);
 * ```
 */
export async function takeSample(overrides: Partial<MetricSources> = {}): Promise<RawSample> {
  const sources = metricSources(overrides);
  const [cpu, memory, disk, network] = await Promise.all([
    readCpuTimes(sources.stat, sources.fallbacks),
    readMemoryPercent(sources.meminfo, sources.fallbacks),
    readDiskPercent(sources.diskPath),
    readNetworkTotals(sources.netDev),
  ]);
  return { at: performance.now(), cpu, memory, disk, network, loadAverage: readLoadAverage() };
}

/** The payload of a `"metrics"` event. */
export type SystemMetrics = {
  /** % of CPU time busy, all cores, since the previous sample. */
  cpu: number | null;
  /** % of memory in use. */
  memory: number | null;
  /** % used of the filesystem holding the working directory. */
  disk: number | null;
  /** Bytes per second over all non-loopback interfaces since the previous sample. */
  network: { bytesInPerSec: number | null; bytesOutPerSec: number | null };
  /** Load averages over 1, 5 and 15 minutes. */
  loadAverage: [number, number, number] | null;
  cores: number | null;
  /** ISO time of the sample. */
  time: string;
};

/**
 * Turns two samples into the feed's `"metrics"` payload (rates per second between them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { metricsBetween } from "./system.ts";
 * import type { RawSample } from "./host_metrics.ts";
 * const base = { memory: 50, disk: null, loadAverage: null };
 * const a: RawSample = { ...base, at: 0, cpu: { busy: 0, total: 0, cores: 2 }, network: { bytesIn: 0, bytesOut: 0 } };
 * const b: RawSample = { ...base, at: 2000, cpu: { busy: 50, total: 200, cores: 2 }, network: { bytesIn: 4000, bytesOut: 10 } };
 * const data = metricsBetween(a, b, 0);
 * assert.equal(data.cpu, 25);
 * assert.equal(data.network.bytesInPerSec, 2000);
 * ```
 */
export function metricsBetween(
  before: RawSample,
  after: RawSample,
  epochMs: number,
): SystemMetrics {
  const seconds = (after.at - before.at) / 1000;
  const rate = (key: keyof NetworkTotals) => {
    if (!before.network || !after.network || seconds <= 0) return null;
    const delta = after.network[key] - before.network[key];
    return delta < 0 ? null : Math.round(delta / seconds); // a counter reset: unknown
  };
  return {
    cpu: cpuPercent(before.cpu, after.cpu),
    memory: after.memory,
    disk: after.disk,
    network: { bytesInPerSec: rate("bytesIn"), bytesOutPerSec: rate("bytesOut") },
    loadAverage: after.loadAverage,
    cores: after.cpu?.cores || null,
    time: isoTime(epochMs),
  };
}

/** Options of {@link systemFeed}. */
export interface SystemOptions extends FeedOptions {
  /** Time between samples in ms (divided by the speed). Default 2000. */
  intervalMs?: number;
  /** Where to read; defaults to the real `/proc` files. */
  sources?: Partial<MetricSources>;
}

/**
 * Samples at once, then every `intervalMs` yields a `"metrics"` event
 * `{ cpu, memory, disk, network: { bytesInPerSec, bytesOutPerSec }, loadAverage, cores, time }`
 * (percentages to 1 decimal, rates since the previous sample). Returns when `signal` aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { systemFeed } from "./system.ts";
 * const controller = new AbortController();
 * const sources = { stat: "/none", meminfo: "/none", netDev: "/none", diskPath: "/none", fallbacks: false };
 * const feed = systemFeed({ signal: controller.signal, intervalMs: 10, sources, now: () => 0 });
 * const { value } = await feed.next();
 * const { cpu, memory, network, time } = value?.data as Record<string, unknown>;
 * assert.deepEqual([value?.type, cpu, memory, time], ["metrics", null, null, "1970-01-01T00:00:00.000Z"]);
 * assert.deepEqual(network, { bytesInPerSec: null, bytesOutPerSec: null }); // unreadable sources: null
 * controller.abort();
 * await feed.return(undefined);
 * ```
 */
export async function* systemFeed(options: SystemOptions): AsyncGenerator<FeedEvent> {
  const { signal } = options;
  const now = options.now ?? Date.now;
  const interval = scaledMs(options.intervalMs ?? 2000, options.speed);
  let previous = await takeSample(options.sources);
  while (await sleep(interval, signal)) {
    const current = await takeSample(options.sources);
    if (signal.aborted) return;
    yield { type: "metrics", data: metricsBetween(previous, current, now()) };
    previous = current;
  }
}
