/**
 * Process figures from Linux `/proc`: resident memory of a process tree and CPU time, so the tool
 * can report server RSS and how busy the server and the load clients were.
 *
 * @module
 */

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

// `deno task bench` runs without --allow-all, and Deno only lets --allow-all read /proc, so the
// files are read by `cat` (allowed by --allow-run).
async function readProcFiles(glob: string): Promise<string> {
  const output = await new Deno.Command("sh", {
    args: ["-c", `cat ${glob} 2>/dev/null; true`],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(output.stdout);
}

interface ProcStat {
  pid: number;
  parent: number;
  cpuTicks: number;
}

async function allStats(): Promise<ProcStat[]> {
  const text = await readProcFiles("/proc/[0-9]*/stat");
  const stats: ProcStat[] = [];
  for (const line of text.split("\n")) {
    const close = line.lastIndexOf(")");
    if (close < 0) continue;
    const fields = line.slice(close + 2).split(" ");
    stats.push({
      pid: Number(line.slice(0, line.indexOf(" "))),
      parent: Number(fields[1]),
      cpuTicks: Number(fields[11]) + Number(fields[12]),
    });
  }
  return stats;
}

function treeOf(pid: number, stats: ProcStat[]): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) {
    const list = children.get(stat.parent) ?? [];
    list.push(stat);
    children.set(stat.parent, list);
  }
  const root = stats.find((stat) => stat.pid === pid);
  if (!root) return [];
  const out: ProcStat[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const next = stack.pop()!;
    out.push(next);
    stack.push(...(children.get(next.pid) ?? []));
  }
  return out;
}

/**
 * The pid and all its descendants.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { processTree } from "./proc_stats.ts";
 * assert.ok((await processTree(Deno.pid)).includes(Deno.pid));
 * ```
 */
export async function processTree(pid: number): Promise<number[]> {
  return treeOf(pid, await allStats()).map((stat) => stat.pid);
}

/**
 * Sum of VmRSS (bytes, from /proc/<pid>/status) over a process and its descendants.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { treeRssBytes } from "./proc_stats.ts";
 * assert.ok(await treeRssBytes(Deno.pid) > 1_000_000);
 * ```
 */
export async function treeRssBytes(pid: number): Promise<number> {
  const pids = await processTree(pid);
  if (pids.length === 0) return 0;
  const text = await readProcFiles(pids.map((each) => `/proc/${each}/status`).join(" "));
  let total = 0;
  for (const match of text.matchAll(/VmRSS:\s+(\d+) kB/g)) total += Number(match[1]) * 1024;
  return total;
}

/**
 * CPU seconds (user + system) used so far by each process tree.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { treeCpuSeconds } from "./proc_stats.ts";
 * assert.ok((await treeCpuSeconds([Deno.pid]))[0] >= 0);
 * ```
 */
export async function treeCpuSeconds(pids: number[]): Promise<number[]> {
  const stats = await allStats();
  return pids.map((pid) =>
    treeOf(pid, stats).reduce((sum, stat) => sum + stat.cpuTicks, 0) / TICKS_PER_SECOND
  );
}

/**
 * Measures CPU use of several processes over an interval: call `stop()` to get the busy fraction
 * of one core for each (1.0 = one core fully busy).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cpuMeter } from "./proc_stats.ts";
 * const meter = await cpuMeter([Deno.pid]);
 * assert.ok((await meter.stop())[0] >= 0);
 * ```
 */
export async function cpuMeter(pids: number[]): Promise<{ stop(): Promise<number[]> }> {
  const before = await treeCpuSeconds(pids);
  const start = performance.now();
  return {
    async stop() {
      const after = await treeCpuSeconds(pids);
      const seconds = Math.max(0.001, (performance.now() - start) / 1000);
      return pids.map((_, i) => (after[i] - before[i]) / seconds);
    },
  };
}

async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readProcFiles("/proc/stat")).split("\n")[0];
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0);
  return { busy: total - idle, total };
}

/**
 * Measures how many cores the whole machine kept busy over an interval (all processes, from
 * /proc/stat), to tell the load of the processes under test from anything else running.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { machineMeter } from "./proc_stats.ts";
 * const meter = await machineMeter();
 * assert.ok((await meter.stop()) >= 0);
 * ```
 */
export async function machineMeter(): Promise<{ stop(): Promise<number> }> {
  const before = await machineTicks();
  const start = performance.now();
  return {
    async stop() {
      const after = await machineTicks();
      const seconds = Math.max(0.001, (performance.now() - start) / 1000);
      return (after.busy - before.busy) / TICKS_PER_SECOND / seconds;
    },
  };
}

/**
 * The machine, for the report: cores, memory, CPU model, kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { machineInfo } from "./proc_stats.ts";
 * assert.ok((await machineInfo()).cores >= 1);
 * ```
 */
export async function machineInfo(): Promise<
  { cores: number; memoryGiB: number; cpu: string; kernel: string }
> {
  const cpuinfo = await readProcFiles("/proc/cpuinfo");
  const meminfo = await readProcFiles("/proc/meminfo");
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0);
  return {
    cores: navigator.hardwareConcurrency,
    memoryGiB: Math.round((memKb / 1024 / 1024) * 10) / 10,
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    kernel: (await readProcFiles("/proc/sys/kernel/osrelease")).trim() || "unknown",
  };
}
