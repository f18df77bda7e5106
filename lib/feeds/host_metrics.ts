/**
 * Reading the host's metrics: CPU times, memory, disk, network byte counters and load, each from
 * Linux's `/proc` or a runtime API, and null when the platform cannot give it.
 *
 * @module
 */

import { statfs } from "node:fs/promises";
import { cpus } from "node:os";
import { roundTo } from "./feed.ts";

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
 * import assert from "node:assert/strict";
 * import { readCpuTimes } from "./host_metrics.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "cpu  30 0 10 50 10 0 0 0\ncpu0 15 0 5 25 5 0 0 0\ncpu1 15 0 5 25 5 0 0 0\n");
 * assert.deepEqual(await readCpuTimes(path, false), { busy: 40, total: 100, cores: 2 });
 * assert.equal(await readCpuTimes("/no/such/file", false), null);
 * await Deno.remove(path);
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
 * import assert from "node:assert/strict";
 * import { cpuPercent } from "./host_metrics.ts";
 * const cores = 1;
 * assert.equal(cpuPercent({ busy: 10, total: 100, cores }, { busy: 35, total: 200, cores }), 25);
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
 * import assert from "node:assert/strict";
 * import { readMemoryPercent } from "./host_metrics.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\n");
 * assert.equal(await readMemoryPercent(path, false), 75);
 * assert.equal(await readMemoryPercent("/no/such/file", false), null);
 * await Deno.remove(path);
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
 * import assert from "node:assert/strict";
 * import { readDiskPercent } from "./host_metrics.ts";
 * assert.equal(await readDiskPercent("/no/such/dir"), null);
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
 * import assert from "node:assert/strict";
 * import { readNetworkTotals } from "./host_metrics.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, [
 *   "Inter-|   Receive",
 *   " face |bytes packets",
 *   "    lo: 500 1 0 0 0 0 0 0 500 1 0 0 0 0 0 0",
 *   "  eth0: 1200 3 0 0 0 0 0 0 800 2 0 0 0 0 0 0",
 * ].join("\n"));
 * assert.deepEqual(await readNetworkTotals(path), { bytesIn: 1200, bytesOut: 800 }); // lo is skipped
 * await Deno.remove(path);
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
/**
 * The 1, 5 and 15 minute load averages, or null where the platform has none.
 */
export function readLoadAverage(): [number, number, number] | null {
  try {
    const [one, five, fifteen] = Deno.loadavg();
    return [roundTo(one, 2), roundTo(five, 2), roundTo(fifteen, 2)];
  } catch {
    return null;
  }
}
