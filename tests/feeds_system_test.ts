import assert from "node:assert/strict";
import { cpus } from "node:os";
import { metricsBetween, systemFeed, takeSample } from "../lib/feeds/system.ts";
import {
  cpuPercent,
  readCpuTimes,
  readDiskPercent,
  readMemoryPercent,
  readNetworkTotals,
} from "../lib/feeds/host_metrics.ts";

const onLinux = Deno.build.os === "linux";
/** Deno 2.9 lets a program read /proc only with --allow-all; the sampler then falls back. */
const procReadable = await Deno.readTextFile("/proc/stat").then(() => true, () => false);

/** Reads a /proc file independently of the feed's code (and of Deno's /proc rule) with `cat`. */
async function catProc(path: string): Promise<string> {
  const output = await new Deno.Command("cat", { args: [path] }).output();
  assert.ok(output.success, `cat ${path} failed`);
  return new TextDecoder().decode(output.stdout);
}

async function meminfoPercent(): Promise<number> {
  const text = await catProc("/proc/meminfo");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(text)![1]);
  return ((field("MemTotal") - field("MemAvailable")) / field("MemTotal")) * 100;
}

async function procCores(): Promise<number> {
  return (await catProc("/proc/stat")).split("\n").filter((line) => /^cpu\d/.test(line)).length;
}

async function netReceived(): Promise<number> {
  return (await catProc("/proc/net/dev")).split("\n").slice(2)
    .filter((line) => line.includes(":") && line.split(":")[0].trim() !== "lo")
    .reduce((sum, line) => sum + Number(line.split(":")[1].trim().split(/\s+/)[0]), 0);
}

/** Runs `read` on a temporary file holding `text`. */
async function fromFixture<T>(text: string, read: (path: string) => Promise<T>): Promise<T> {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(path, text);
    return await read(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test({
  name: "system samples agree with /proc read independently",
  ignore: !onLinux,
  async fn() {
    const receivedBefore = await netReceived();
    const sample = await takeSample();
    const receivedAfter = await netReceived();
    assert.ok(sample.memory !== null && Math.abs(sample.memory - await meminfoPercent()) < 1);
    assert.equal(sample.cpu?.cores, await procCores());
    assert.ok(sample.cpu !== null && sample.cpu.busy <= sample.cpu.total);
    if (procReadable) {
      assert.ok(sample.network !== null);
      assert.ok(
        receivedBefore <= sample.network.bytesIn && sample.network.bytesIn <= receivedAfter,
      );
    } else {
      assert.equal(sample.network, null); // no permission, no runtime fallback: unknown
    }
    assert.equal(sample.loadAverage?.length, 3);
  },
});

Deno.test({
  name: "disk usage agrees with df for the working directory",
  ignore: !onLinux,
  async fn() {
    const output = await new Deno.Command("df", { args: ["-P", Deno.cwd()] }).output();
    const capacity = Number(/(\d+)%/.exec(new TextDecoder().decode(output.stdout))![1]);
    const disk = await readDiskPercent(Deno.cwd());
    // df rounds its percentage up to a whole number, and other processes write meanwhile.
    assert.ok(
      disk !== null && Math.abs(disk - capacity) <= 1,
      `${disk} vs df ${capacity}`,
    );
  },
});

Deno.test("cpu times and usage come from the aggregate /proc/stat line", async () => {
  const head = "cpu  100 5 50 800 40 3 2 0 7 0\n";
  const perCore = "cpu0 50 0 25 400 20 0 0 0 0 0\ncpu1 50 5 25 400 20 3 2 0 7 0\nintr 1 2 3\n";
  const before = await fromFixture(head + perCore, (path) => readCpuTimes(path, false));
  // busy = user + nice + system + irq + softirq + steal; guest (inside user) is not added again.
  assert.deepEqual(before, { busy: 160, total: 1000, cores: 2 });
  const later = "cpu  160 5 70 900 60 3 2 0 7 0\n" + perCore;
  const after = await fromFixture(later, (path) => readCpuTimes(path, false));
  assert.deepEqual(after, { busy: 240, total: 1200, cores: 2 });
  assert.equal(cpuPercent(before, after), 40);
  assert.equal(cpuPercent(after, after), null); // no time accounted in between
  assert.equal(cpuPercent(null, after), null);
});

Deno.test("memory usage is (total - available) / total from meminfo", async () => {
  const current = "MemTotal:  1000 kB\nMemFree:  100 kB\nMemAvailable:  333 kB\n";
  assert.equal(await fromFixture(current, (path) => readMemoryPercent(path, false)), 66.7);
  // Kernels before 3.14 have no MemAvailable: free + buffers + cached.
  const old = "MemTotal:  1000 kB\nMemFree:  100 kB\nBuffers: 50 kB\nCached: 200 kB\n";
  assert.equal(await fromFixture(old, (path) => readMemoryPercent(path, false)), 65);
});

Deno.test("network totals sum every interface but loopback", async () => {
  const text = "Inter-|   Receive\n face |bytes packets\n" +
    "    lo: 9999 9 0 0 0 0 0 0 9999 9 0 0 0 0 0 0\n" +
    "  eth0:1500 3 0 0 0 0 0 0 700 2 0 0 0 0 0 0\n" +
    "  wlan0: 500 1 0 0 0 0 0 0 300 1 0 0 0 0 0 0\n";
  assert.deepEqual(await fromFixture(text, readNetworkTotals), { bytesIn: 2000, bytesOut: 1000 });
});

Deno.test("metrics are null for every source that is missing", async () => {
  const missing = "/nonexistent/tidings";
  const sources = {
    stat: missing,
    meminfo: missing,
    netDev: missing,
    diskPath: missing,
    fallbacks: false,
  };
  const before = await takeSample(sources);
  const after = await takeSample(sources);
  const data = metricsBetween(before, after, Date.UTC(2024, 0, 1));
  assert.deepEqual({ ...data, loadAverage: null }, {
    cpu: null,
    memory: null,
    disk: null,
    network: { bytesInPerSec: null, bytesOutPerSec: null },
    loadAverage: null,
    cores: null,
    time: "2024-01-01T00:00:00.000Z",
  });
});

Deno.test("without /proc the runtime's cpu and memory figures are used", async () => {
  const missing = "/nonexistent/tidings";
  const sample = await takeSample({ stat: missing, meminfo: missing });
  const { total, available } = Deno.systemMemoryInfo();
  assert.ok(
    sample.memory !== null && Math.abs(sample.memory - ((total - available) / total) * 100) < 1,
  );
  assert.equal(sample.cpu?.cores, cpus().length);
});

Deno.test("network rates are bytes per second between samples, null after a counter reset", () => {
  const base = { cpu: null, memory: null, disk: null, loadAverage: null };
  const a = { ...base, at: 1000, network: { bytesIn: 1000, bytesOut: 5000 } };
  const b = { ...base, at: 3000, network: { bytesIn: 9000, bytesOut: 4000 } };
  assert.deepEqual(metricsBetween(a, b, 0).network, { bytesInPerSec: 4000, bytesOutPerSec: null });
});

Deno.test({
  name: "system feed emits real metrics after its first interval",
  ignore: !onLinux,
  async fn() {
    const controller = new AbortController();
    let clock = Date.UTC(2024, 0, 1);
    const feed = systemFeed({ signal: controller.signal, intervalMs: 200, now: () => clock++ });
    const { value } = await feed.next();
    controller.abort();
    assert.equal(value?.type, "metrics");
    const data = value!.data as Record<string, unknown> & { network: Record<string, unknown> };
    assert.ok(typeof data.cpu === "number" && data.cpu >= 0 && data.cpu <= 100);
    const memory = await meminfoPercent();
    assert.ok(typeof data.memory === "number" && Math.abs(data.memory - memory) < 1);
    assert.equal(typeof data.disk, "number");
    if (procReadable) {
      assert.ok(typeof data.network.bytesInPerSec === "number" && data.network.bytesInPerSec >= 0);
      assert.ok(typeof data.network.bytesOutPerSec === "number");
    }
    assert.equal(data.cores, await procCores());
    assert.equal(data.time, "2024-01-01T00:00:00.000Z");
    assert.deepEqual(Object.keys(data), [
      "cpu",
      "memory",
      "disk",
      "network",
      "loadAverage",
      "cores",
      "time",
    ]);
  },
});
