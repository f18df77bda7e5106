/**
 * `deno task start` / `deno task dev`: validates the settings, then runs `deno serve` with exact
 * permissions on `PORT` and `HOST` (`deno serve` itself reads neither). `--parallel` (start)
 * runs one isolate per core, or `DENO_JOBS`. `--direct` (start:direct) runs the direct listener
 * (`scripts/serve_direct.ts`) instead: one isolate on tidings' own HTTP/1.1 server.
 *
 * @module
 */

import { loadConfigOrExit, refuseToStart, StartRefusal } from "../lib/app/config.ts";
import { kvLocation, SHARED_MEMORY_STORE } from "../lib/kv/store.ts";
import { FILE_LIMIT_VARIABLE } from "../lib/util/descriptor_limit.ts";

/**
 * The permission flags the server needs, and no more: writes only where its KV file lives (none
 * for `:memory:`, a KV Connect URL or the platform's database).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serverPermissions } from "./start.ts";
 * assert.ok(serverPermissions("./data/tidings.kv").includes("--allow-write=./data"));
 * assert.ok(!serverPermissions("https://kv.example.com").some((f) => f.startsWith("--allow-write")));
 * ```
 */
export function serverPermissions(kvPath: string | undefined): string[] {
  const flags = [
    "--allow-net",
    "--allow-env",
    "--allow-sys=loadavg,systemMemoryInfo,osUptime,cpus,networkInterfaces,hostname,statfs",
    "--allow-read",
  ];
  const location = kvLocation(kvPath);
  if (location.kind === "file") flags.push(`--allow-write=${location.directory}`);
  return flags;
}

/**
 * How many isolates `deno serve` will run: `DENO_JOBS`, else one per core, with `--parallel`;
 * else one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isolateCount } from "./start.ts";
 * assert.equal(isolateCount(false, "8"), 1);
 * assert.equal(isolateCount(true, "3"), 3);
 * ```
 */
export function isolateCount(parallel: boolean, jobs: string | undefined): number {
  if (!parallel) return 1;
  const count = Number(jobs);
  return Number.isSafeInteger(count) && count > 0 ? count : navigator.hardwareConcurrency;
}

/**
 * The V8 flags for a `TIDINGS_V8_HEAP` setting: `small` trades throughput (about a quarter of the
 * fan-out rate) for memory (about a third less RSS per idle connection); see BENCHMARKS.md.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { v8Flags } from "./start.ts";
 * assert.equal(v8Flags("small")[0], "--v8-flags=--optimize-for-size");
 * assert.equal(v8Flags("default").length, 0);
 * ```
 */
export function v8Flags(heap: "default" | "small"): string[] {
  return heap === "small" ? ["--v8-flags=--optimize-for-size"] : [];
}

if (import.meta.main) {
  const config = loadConfigOrExit();
  const parallel = Deno.args.includes("--parallel") && !Deno.args.includes("--direct");
  if (config.kvPath === ":memory:" && isolateCount(parallel, Deno.env.get("DENO_JOBS")) > 1) {
    refuseToStart(new StartRefusal(SHARED_MEMORY_STORE));
  }
  const args = Deno.args.includes("--direct")
    ? [
      "run",
      ...v8Flags(config.v8Heap),
      ...serverPermissions(config.kvPath),
      new URL("./serve_direct.ts", import.meta.url).pathname,
    ]
    : [
      "serve",
      ...(parallel ? ["--parallel"] : []),
      ...v8Flags(config.v8Heap),
      `--port=${config.port}`,
      `--host=${config.hostname}`,
      ...serverPermissions(config.kvPath),
      new URL("../main.ts", import.meta.url).pathname,
    ];
  // Deno lets only --allow-all read /proc/self/limits: tell the server its descriptor limit.
  const env: Record<string, string> = {};
  if (!Deno.env.get(FILE_LIMIT_VARIABLE)) {
    const limit = await new Deno.Command("sh", { args: ["-c", "ulimit -n"], stderr: "null" })
      .output().then((out) => new TextDecoder().decode(out.stdout).trim()).catch(() => "");
    if (/^\d+$/.test(limit)) env[FILE_LIMIT_VARIABLE] = limit;
  }
  const child = new Deno.Command(Deno.execPath(), { args, env, stdin: "null" }).spawn();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => child.kill(signal));
  }
  const status = await child.status;
  Deno.exit(status.code);
}
