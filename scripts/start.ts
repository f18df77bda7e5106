/**
 * `deno task start` / `deno task dev`: validates the settings, then runs `deno serve` with exact
 * permissions on `PORT` and `HOST` (`deno serve` itself reads neither). `--parallel` (start)
 * runs one isolate per core, or `DENO_JOBS`. `--direct` (start:direct) runs the direct listener
 * (`scripts/serve_direct.ts`) instead: one isolate on tidings' own HTTP/1.1 server.
 *
 * @module
 */

import { loadConfigOrExit } from "../lib/app/config.ts";
import { FILE_LIMIT_VARIABLE } from "../lib/util/descriptor_limit.ts";

/**
 * The permission flags the server needs, and no more: writes only where its KV file lives.
 *
 * @example
 * ```ts
 * import { serverPermissions } from "./start.ts";
 * console.assert(serverPermissions("./data/tidings.kv").includes("--allow-write=./data"));
 * ```
 */
export function serverPermissions(kvPath: string | undefined): string[] {
  const flags = [
    "--allow-net",
    "--allow-env",
    "--allow-sys=loadavg,systemMemoryInfo,osUptime,cpus,networkInterfaces,hostname,statfs",
    "--allow-read",
  ];
  if (kvPath && kvPath !== ":memory:") {
    const slash = kvPath.lastIndexOf("/");
    flags.push(`--allow-write=${slash > 0 ? kvPath.slice(0, slash) : slash === 0 ? "/" : "."}`);
  }
  return flags;
}

/**
 * The V8 flags for a `TIDINGS_V8_HEAP` setting: `small` trades throughput (about a quarter of the
 * fan-out rate) for memory (about a third less RSS per idle connection); see BENCHMARKS.md.
 *
 * @example
 * ```ts
 * import { v8Flags } from "./start.ts";
 * console.assert(v8Flags("small")[0] === "--v8-flags=--optimize-for-size");
 * console.assert(v8Flags("default").length === 0);
 * ```
 */
export function v8Flags(heap: "default" | "small"): string[] {
  return heap === "small" ? ["--v8-flags=--optimize-for-size"] : [];
}

if (import.meta.main) {
  const config = loadConfigOrExit();
  const parallel = Deno.args.includes("--parallel");
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
