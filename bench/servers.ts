/**
 * The servers under test: nginx + nchan (installed with apt when missing, run with its own
 * prefix, config, pid and logs in a temp dir, one worker, loopback only) and tidings (`deno serve`
 * with one isolate or `--parallel`).
 *
 * @module
 */

import { v8Flags } from "../scripts/start.ts";
import { benchPublisherToken } from "./jwt_for_bench.ts";
import type { TargetKind } from "./publisher.ts";

/** A started server the bench can load. */
export interface RunningTarget {
  /** Label in tables: `nchan`, `tidings`, `tidings×2`, `tidings-direct`. */
  label: string;
  kind: TargetKind;
  host: string;
  port: number;
  /** Root of the process tree whose RSS and CPU are measured. */
  pid: number;
  /** Publisher token (tidings). */
  token?: string;
  /** Subscribe path for a topic. */
  subscribePath(topic: string): string;
  /** Whether publishes are durable before the hub answers. */
  durable: boolean;
  /**
   * Stops the server and starts it again on the same port and store (tidings only): what a
   * deploy does. Resolves with the new target; the old one must not be used any more.
   */
  restart?(): Promise<RunningTarget>;
  /** The last lines of the server's error log / output (for failure reports). */
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";
const NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so";

async function run(command: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const result = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
      .output();
    const decoder = new TextDecoder();
    return {
      code: result.code,
      output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
    };
  } catch (error) {
    return { code: -1, output: String(error) };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure nginx and the nchan module are installed (apt-get on Debian, as root).
 *
 * @example
 * ```ts ignore
 * await ensureNchanInstalled();
 * ```
 */
export async function ensureNchanInstalled(): Promise<void> {
  if ((await run("nginx", ["-v"])).code === 0 && await exists(NCHAN_MODULE)) return;
  console.error("bench: nginx or nchan missing; installing with apt-get (needs root)…");
  const env = ["env", "DEBIAN_FRONTEND=noninteractive"];
  const update = await run(env[0], [...env.slice(1), "apt-get", "update"]);
  if (update.code !== 0) throw new Error(`apt-get update failed:\n${update.output.slice(-2000)}`);
  const install = await run(env[0], [
    ...env.slice(1),
    "apt-get",
    "install",
    "-y",
    "--no-install-recommends",
    "nginx",
    "libnginx-mod-nchan",
  ]);
  if (install.code !== 0) {
    throw new Error(`apt-get install failed:\n${install.output.slice(-2000)}`);
  }
  if (!await exists(NCHAN_MODULE)) throw new Error(`nchan module not found at ${NCHAN_MODULE}`);
}

async function tail(path: string, lines: number): Promise<string> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.trimEnd().split("\n").filter((line) => !/\[info\]|\[notice\]/.test(line)).slice(
    -lines,
  ).join("\n");
}

async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms`);
}

async function answers(url: string, headers: Record<string, string> = {}): Promise<boolean> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(1000) });
  await response.body?.cancel();
  return response.status < 500;
}

/**
 * The nginx config: one worker, loopback, nchan publisher at `/pub?id=` and EventSource
 * subscribers at `/sub/{id}`, a 2,000-message buffer per channel kept 10 minutes (enough for the
 * catch-up scenario), new subscribers start at the newest message (live only, like Mercure).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nchanConfig } from "./servers.ts";
 * assert.ok(nchanConfig("/tmp/x", 8080).includes("worker_processes 1;"));
 * ```
 */
export function nchanConfig(prefix: string, port: number): string {
  return `load_module ${NCHAN_MODULE};
worker_processes 1;
worker_rlimit_nofile 20000;
daemon on;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 40000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  nchan_shared_memory_size 512m;
  server {
    listen ${HOST}:${port} backlog=4096;
    location = /pub {
      nchan_publisher;
      nchan_channel_id $arg_id;
      nchan_message_buffer_length 2000;
      nchan_message_timeout 10m;
    }
    location ~ ^/sub/(.+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id $1;
      nchan_subscriber_first_message newest;
    }
  }
}
`;
}

/**
 * Starts nginx + nchan on `port`; `stop()` quits it and removes the temp dir.
 *
 * @example
 * ```ts ignore
 * const nchan = await startNchan(18080);
 * await nchan.stop();
 * ```
 */
export async function startNchan(port: number): Promise<RunningTarget> {
  await ensureNchanInstalled();
  const prefix = await Deno.makeTempDir({ prefix: "tidings-bench-nginx-" });
  await Deno.mkdir(`${prefix}/tmp`, { recursive: true });
  await Deno.chmod(prefix, 0o755);
  await Deno.chmod(`${prefix}/tmp`, 0o777);
  const config = `${prefix}/nginx.conf`;
  await Deno.writeTextFile(config, nchanConfig(prefix, port));
  const start = await run("sh", [
    "-c",
    'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec nginx -p "$0" -c "$1"',
    prefix,
    config,
  ]);
  if (start.code !== 0) throw new Error(`nginx did not start:\n${start.output}`);
  await waitFor(() => answers(`http://${HOST}:${port}/pub?id=bench-probe`), 10_000, "nginx");
  const pid = Number((await Deno.readTextFile(`${prefix}/nginx.pid`)).trim());
  return {
    label: "nchan",
    kind: "nchan",
    host: HOST,
    port,
    pid,
    durable: false,
    subscribePath: (topic) => `/sub/${encodeURIComponent(topic)}`,
    logTail: (lines = 5) => tail(`${prefix}/error.log`, lines),
    async stop() {
      await run("nginx", ["-p", prefix, "-c", config, "-s", "stop"]);
      await waitFor(async () => !await exists(`/proc/${pid}`), 10_000, "nginx exit").catch(() => {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      });
      await Deno.remove(prefix, { recursive: true }).catch(() => {});
    },
  };
}

/** Options of {@link startTidings}. */
export interface TidingsOptions {
  port: number;
  /** Isolates: 1 = plain `deno serve`, more = `--parallel` with `DENO_JOBS`. */
  isolates: number;
  /** Extra environment (e.g. `TIDINGS_SUBSCRIPTION_EVENTS=off`). */
  env?: Record<string, string>;
  /** Where the server's stdout/stderr go. */
  logPath?: string;
  /** Extra `deno serve` flags (e.g. `--inspect=127.0.0.1:9229` for profiling). */
  denoFlags?: string[];
  /** Run the direct listener (`scripts/serve_direct.ts`, one isolate) instead of `deno serve`. */
  direct?: boolean;
  /** Reuse this KV directory (a restart); it is then left in place by `stop()`. */
  kvDir?: string;
}

/** The secret the bench signs tokens with. */
export const BENCH_JWT_KEY = "tidings-bench-secret-key-0123456789abcdef";

/**
 * Starts tidings from /work/main/main.ts (the repository root) with a file KV in a temp dir.
 *
 * @example
 * ```ts ignore
 * const tidings = await startTidings({ port: 18090, isolates: 2 });
 * await tidings.stop();
 * ```
 */
export async function startTidings(options: TidingsOptions): Promise<RunningTarget> {
  const root = new URL("../", import.meta.url).pathname;
  const dir = options.kvDir ?? await Deno.makeTempDir({ prefix: "tidings-bench-kv-" });
  let keepDir = false;
  const logPath = options.logPath ?? `${dir}/server.log`;
  const env: Record<string, string> = {
    TIDINGS_JWT_KEY: BENCH_JWT_KEY,
    TIDINGS_KV_PATH: `${dir}/bench.kv`,
    TIDINGS_DEMO_FEEDS: "off",
    TIDINGS_LOG_LEVEL: "warn",
    // Every load client connects from one loopback address.
    TIDINGS_MAX_CONNECTIONS_PER_IP: "1000000",
    ...options.env,
  };
  if (options.isolates > 1) env.DENO_JOBS = String(options.isolates);
  if (options.direct) Object.assign(env, { PORT: String(options.port), HOST });
  const permissions = [
    "--allow-net",
    "--allow-env",
    "--allow-sys",
    "--allow-read",
    "--allow-write",
  ];
  const args = options.direct
    ? [
      "run",
      ...v8Flags(env.TIDINGS_V8_HEAP === "small" ? "small" : "default"),
      ...(options.denoFlags ?? []),
      ...permissions,
      "scripts/serve_direct.ts",
    ]
    : [
      "serve",
      ...(options.isolates > 1 ? ["--parallel"] : []),
      ...v8Flags(env.TIDINGS_V8_HEAP === "small" ? "small" : "default"),
      ...(options.denoFlags ?? []),
      `--port=${options.port}`,
      `--host=${HOST}`,
      ...permissions,
      "main.ts",
    ];
  const script = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; log="$0"; ' +
    'TIDINGS_FILE_LIMIT="$(ulimit -n)" exec "$@" >"$log" 2>&1';
  const child = new Deno.Command("sh", {
    args: ["-c", script, logPath, Deno.execPath(), ...args],
    cwd: root,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const exited = child.status;
  let gone = false;
  exited.then(() => gone = true);
  try {
    await waitFor(
      async () => {
        if (gone) throw new Error("exited");
        const response = await fetch(`http://${HOST}:${options.port}/healthz`, {
          signal: AbortSignal.timeout(1000),
        });
        await response.body?.cancel();
        return response.status === 200;
      },
      30_000,
      "tidings",
    );
  } catch (error) {
    const log = await Deno.readTextFile(logPath).catch(() => "");
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
    throw new Error(
      `tidings did not start (${(error as Error).message}); its output:\n${log.slice(-3000)}`,
    );
  }
  // With --parallel, /healthz answering means one isolate is up; give the others a moment.
  if (options.isolates > 1) await new Promise((resolve) => setTimeout(resolve, 1500));
  const target: RunningTarget = {
    label: options.direct
      ? "tidings-direct"
      : options.isolates > 1
      ? `tidings×${options.isolates}`
      : "tidings",
    kind: "tidings",
    host: HOST,
    port: options.port,
    pid: child.pid,
    token: await benchPublisherToken(BENCH_JWT_KEY),
    durable: true,
    subscribePath: (topic) => `/.well-known/mercure?topic=${encodeURIComponent(topic)}`,
    logTail: (lines = 5) => tail(logPath, lines),
    async restart() {
      keepDir = true;
      await target.stop();
      return await startTidings({ ...options, kvDir: dir });
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      const timeout = new Promise((resolve) => setTimeout(resolve, 8000, "timeout"));
      if (await Promise.race([exited, timeout]) === "timeout") {
        try {
          child.kill("SIGKILL");
        } catch {
          // gone
        }
        await exited;
      }
      if (!keepDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  return target;
}

/**
 * Starts one of `floor.ts`'s minimal servers (`deno-serve`: a bare `Deno.serve` event stream;
 * `listen`: a bare HTTP/1.1 server on `Deno.listen`), or `floor_parallel.ts` under
 * `deno serve --parallel` with `isolates` isolates (`deno-serve-parallel`), as a target: Deno's
 * own floor. A publish is
 * written to every open stream (one topic only: the fan-out, burst, serial and connection-rate
 * scenarios).
 *
 * @example
 * ```ts ignore
 * const floor = await startFloor(18500, "deno-serve");
 * await floor.stop();
 * ```
 */
export async function startFloor(
  port: number,
  kind: "deno-serve" | "listen" | "deno-serve-parallel",
  isolates = 2,
): Promise<RunningTarget> {
  const script = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';
  const command = kind === "deno-serve-parallel"
    ? [
      "serve",
      "--parallel",
      `--host=${HOST}`,
      `--port=${port}`,
      "--allow-net",
      new URL("./floor_parallel.ts", import.meta.url).pathname,
    ]
    : [
      "run",
      "--allow-net",
      new URL("./floor.ts", import.meta.url).pathname,
      `--serve=${kind}`,
      `--port=${port}`,
    ];
  const child = new Deno.Command("sh", {
    args: ["-c", script, "sh", Deno.execPath(), ...command],
    env: kind === "deno-serve-parallel" ? { DENO_JOBS: String(isolates) } : undefined,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 15_000;
  while (true) {
    try {
      (await Deno.connect({ hostname: HOST, port })).close();
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    label: kind === "deno-serve-parallel" ? `floor (deno serve ×${isolates})` : `floor (${kind})`,
    // Publishes the nchan way: `POST /pub?id=…` with the data as the body.
    kind: "nchan",
    host: HOST,
    port,
    pid: child.pid,
    subscribePath: (topic) => `/sub/${encodeURIComponent(topic)}`,
    durable: false,
    logTail: () => Promise.resolve(""),
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    },
  };
}
