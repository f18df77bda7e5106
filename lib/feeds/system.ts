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

import { statfs } from "node:fs/promises";
import { cpus } from "node:os";
import { sleep } from "../abortable.ts";
import { type FeedEvent, type FeedOptions, isoTime, roundTo, scaledMs } from "./feed.ts";

/** Where the sampler reads; tests point these at missing paths to see fields become null. */
export interface MetricSources {
  /** Default `/proc/stat`. */
  stat: string;
  /** Default `/proc/meminfo`. */
  meminfo: string;
  /** Default `/proc/net/dev`. */
  netDev: string;
  /** A path on the filesystem to measure. Default: the working directory. */
  diskPath: string;
  /** Use `node:os` / `Deno.systemMemoryInfo()` when a `/proc` file cannot be read. Default true. */
  fallbacks: boolean;
}

/** Cumulative CPU time over all cores, in any unit (jiffies from /proc, ms from node:os). */
export interface CpuTimes {
  busy: number;
  total: number;
  /** Number of cores counted. */
  cores: number;
}

/** Cumulative bytes received and sent over all non-loopback interfaces. */
export interface NetworkTotals {
  bytesIn: number;
  bytesOut: number;
}

/** One raw reading of every source; rates need two of these. */
export interface RawSample {
  /** `performance.now()` when taken. */
  at: number;
  cpu: CpuTimes | null;
  memory: number | null;
  disk: number | null;
  network: NetworkTotals | null;
  loadAverage: [number, number, number] | null;
}

/** The aggregate `cpu` line of /proc/stat: busy = all but idle and iowait (guest is in user). */
function parseProcStat(text: string): CpuTimes {
  const line = text.split("\n").find((candidate) => candidate.startsWith("cpu "));
  const fields = (line ?? "").trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 4 || fields.some((value) => !Number.isFinite(value))) {
    throw new SyntaxError("no aggregate cpu line in /proc/stat");
  }
  const total = fields.reduce((sum, value) => sum + value, 0);
  const cores = text.match(/^cpu\d+\s/gm)?.length ?? 0;
  return { busy: total - fields[3] - (fields[4] ?? 0), total, cores };
}

/**
 * Reads cumulative CPU times and the core count from `/proc/stat`, else (with fallbacks) from
 * `node:os` `cpus()`; null when neither works.
 *
 * @example
 * ```ts
 * import { readCpuTimes } from "./system.ts";
 * const times = await readCpuTimes("/proc/stat", true);
 * console.assert(times === null || (times.busy <= times.total && times.cores >= 1));
 * ```
 */
export async function readCpuTimes(path: string, fallbacks: boolean): Promise<CpuTimes | null> {
  try {
    return parseProcStat(await Deno.readTextFile(path));
  } catch {
    if (!fallbacks) return null;
  }
  try {
    const all = cpus();
    if (all.length === 0) return null;
    let busy = 0;
    let idle = 0;
    for (const { times } of all) {
      busy += times.user + times.nice + times.sys + times.irq;
      idle += times.idle;
    }
    return { busy, total: busy + idle, cores: all.length };
  } catch {
    return null;
  }
}

/**
 * Percentage of CPU time spent busy between two readings, to 1 decimal; null when unknown or
 * when no time was accounted in between.
 *
 * @example
 * ```ts
 * import { cpuPercent } from "./system.ts";
 * const cores = 1;
 * console.assert(cpuPercent({ busy: 10, total: 100, cores }, { busy: 35, total: 200, cores }) === 25);
 * ```
 */
export function cpuPercent(before: CpuTimes | null, after: CpuTimes | null): number | null {
  if (!before || !after) return null;
  const total = after.total - before.total;
  const busy = after.busy - before.busy;
  if (total <= 0 || busy < 0) return null;
  return roundTo(Math.min(100, (busy / total) * 100));
}

/** % of memory in use, (total − available) / total, from /proc/meminfo text. */
function parseMeminfo(text: string): number {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^(\w+):\s+(\d+)/.exec(line);
    if (match) values.set(match[1], Number(match[2]));
  }
  const total = values.get("MemTotal");
  // Kernels before 3.14 have no MemAvailable: approximate it as the kernel did.
  const available = values.get("MemAvailable") ??
    (values.get("MemFree") ?? NaN) + (values.get("Buffers") ?? 0) + (values.get("Cached") ?? 0);
  if (!total || !Number.isFinite(available)) throw new SyntaxError("no memory totals in meminfo");
  return roundTo(((total - available) / total) * 100);
}

/**
 * Reads the memory in use (%) from `/proc/meminfo`, else (with fallbacks) from
 * `Deno.systemMemoryInfo()`.
 *
 * @example
 * ```ts
 * import { readMemoryPercent } from "./system.ts";
 * console.assert((await readMemoryPercent("/no/such/file", false)) === null);
 * ```
 */
export async function readMemoryPercent(path: string, fallbacks: boolean): Promise<number | null> {
  try {
    return parseMeminfo(await Deno.readTextFile(path));
  } catch {
    if (!fallbacks) return null;
  }
  try {
    const { total, available } = Deno.systemMemoryInfo();
    return total > 0 ? roundTo(((total - available) / total) * 100) : null;
  } catch {
    return null;
  }
}

/**
 * The used share (%) of the filesystem holding `path`, counted like `df`:
 * used / (used + available to unprivileged users). Null when it cannot be measured.
 *
 * @example
 * ```ts
 * import { readDiskPercent } from "./system.ts";
 * console.assert((await readDiskPercent("/no/such/dir")) === null);
 * ```
 */
export async function readDiskPercent(path: string): Promise<number | null> {
  try {
    const stats = await statfs(path);
    const used = stats.blocks - stats.bfree;
    const usable = used + stats.bavail;
    return usable > 0 ? roundTo((used / usable) * 100) : null;
  } catch {
    return null;
  }
}

/** Received and sent bytes of every interface but loopback, from /proc/net/dev text. */
function parseNetDev(text: string): NetworkTotals {
  let bytesIn = 0;
  let bytesOut = 0;
  let interfaces = 0;
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === "lo") continue;
    const fields = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (fields.length < 9 || !Number.isFinite(fields[0]) || !Number.isFinite(fields[8])) continue;
    bytesIn += fields[0];
    bytesOut += fields[8];
    interfaces++;
  }
  if (interfaces === 0) throw new SyntaxError("no network interfaces in /proc/net/dev");
  return { bytesIn, bytesOut };
}

/**
 * Reads network byte counters from `/proc/net/dev`; null when unreadable.
 *
 * @example
 * ```ts
 * import { readNetworkTotals } from "./system.ts";
 * console.assert((await readNetworkTotals("/no/such/file")) === null);
 * ```
 */
export async function readNetworkTotals(path: string): Promise<NetworkTotals | null> {
  try {
    return parseNetDev(await Deno.readTextFile(path));
  } catch {
    return null;
  }
}

/** The 1, 5 and 15 minute load averages (2 decimals), or null when unavailable. */
function readLoadAverage(): [number, number, number] | null {
  try {
    const [one, five, fifteen] = Deno.loadavg();
    return [roundTo(one, 2), roundTo(five, 2), roundTo(fifteen, 2)];
  } catch {
    return null;
  }
}

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
 * import { takeSample } from "./system.ts";
 * const sample = await takeSample({ netDev: "/no/such/file" });
 * console.assert(sample.network === null);
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
 * import { metricsBetween, type RawSample } from "./system.ts";
 * const base = { memory: 50, disk: null, loadAverage: null };
 * const a: RawSample = { ...base, at: 0, cpu: { busy: 0, total: 0, cores: 2 }, network: { bytesIn: 0, bytesOut: 0 } };
 * const b: RawSample = { ...base, at: 2000, cpu: { busy: 50, total: 200, cores: 2 }, network: { bytesIn: 4000, bytesOut: 10 } };
 * const data = metricsBetween(a, b, 0);
 * console.assert(data.cpu === 25 && data.network.bytesInPerSec === 2000);
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
 * import { systemFeed } from "./system.ts";
 * const controller = new AbortController();
 * for await (const event of systemFeed({ signal: controller.signal, intervalMs: 50 })) {
 *   console.assert(event.type === "metrics" && "cpu" in event.data);
 *   controller.abort();
 * }
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
