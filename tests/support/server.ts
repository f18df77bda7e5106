/**
 * Starts the real server (`deno serve main.ts`) on an ephemeral loopback port for tests.
 *
 * @module
 */

import { serverPermissions } from "../../scripts/start.ts";

/** A running server. */
export interface RunningServer {
  url: string;
  port: number;
  pid: number;
  /** Everything the server printed so far (stdout and stderr). */
  output(): string;
  /** Sends a signal and waits for the process to exit; returns its exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  close(): Promise<void>;
}

/** Options of {@link startServer}. */
export interface StartOptions {
  env?: Record<string, string>;
  /** Run `deno serve --parallel` with `DENO_JOBS` isolates. */
  parallel?: number;
  /** Reuse a port (for restart tests). */
  port?: number;
  /** Run the direct listener (`scripts/serve_direct.ts`) instead of `deno serve`. */
  direct?: boolean;
  /** Lower the server's file-descriptor limit (`ulimit -n`) to this. */
  fileLimit?: number;
}

const mainPath = new URL("../../main.ts", import.meta.url).pathname;
const directPath = new URL("../../scripts/serve_direct.ts", import.meta.url).pathname;
const root = new URL("../../", import.meta.url).pathname;

/**
 * Starts the server with in-memory KV (a fresh temporary file with `parallel` > 1, removed when
 * the server stops), demo feeds on and sped up, no per-address connection limit, unless `env`
 * says otherwise.
 *
 * @example
 * ```ts
 * import { startServer } from "./server.ts";
 * const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
 * await (await fetch(`${server.url}/healthz`)).text();
 * await server.close();
 * ```
 */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const env: Record<string, string> = {
    TIDINGS_KV_PATH: ":memory:",
    TIDINGS_FEED_SPEED: "20",
    TIDINGS_JWT_KEY: "test-secret-key-for-tidings-tests",
    TIDINGS_LOG_LEVEL: "warn",
    // Every test client connects from 127.0.0.1: only the per-address tests set this limit.
    TIDINGS_MAX_CONNECTIONS_PER_IP: "1000000",
    ...options.env,
  };
  if (options.parallel) env.DENO_JOBS = String(options.parallel);
  // `:memory:` is one store per isolate, which the hub refuses with several: use a fresh file.
  let kvDirectory: string | undefined;
  if ((options.parallel ?? 1) > 1 && options.env?.TIDINGS_KV_PATH === undefined) {
    kvDirectory = await Deno.makeTempDir({ prefix: "tidings-test-kv-" });
    env.TIDINGS_KV_PATH = `${kvDirectory}/hub.kv`;
  }
  if (options.direct) Object.assign(env, { PORT: String(options.port ?? 0), HOST: "127.0.0.1" });
  const args = options.direct ? ["run", ...serverPermissions(env.TIDINGS_KV_PATH), directPath] : [
    "serve",
    ...(options.parallel ? ["--parallel"] : []),
    `--port=${options.port ?? 0}`,
    "--host=127.0.0.1",
    ...serverPermissions(env.TIDINGS_KV_PATH),
    mainPath,
  ];
  const command = options.fileLimit === undefined ? Deno.execPath() : "bash";
  if (options.fileLimit !== undefined) {
    args.unshift(
      "-c",
      `ulimit -n ${options.fileLimit} && TIDINGS_FILE_LIMIT="$(ulimit -n)" exec "$0" "$@"`,
      Deno.execPath(),
    );
  }
  const child = new Deno.Command(command, {
    args,
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  let resolvePort: (port: number) => void;
  const portFound = new Promise<number>((resolve) => resolvePort = resolve);
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
      const match = /Listening on https?:\/\/[^\s:]+:(\d+)/.exec(output);
      if (match) resolvePort(Number(match[1]));
    }
  };
  const collecting = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const exited = child.status.then((status) => status.code);
  const port = await Promise.race([
    portFound,
    exited.then((code) => {
      throw new Error(`server exited with ${code} before listening:\n${output}`);
    }),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`server did not listen within 30 s:\n${output}`)), 30_000)
    ),
  ]);
  const url = `http://127.0.0.1:${port}`;
  // Wait until every isolate answers (deno serve prints before all workers are ready); a server
  // that never gets ready is a failure, not something to carry on with.
  const giveUp = async (what: string, last: string): Promise<never> => {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
    await exited;
    await collecting;
    if (kvDirectory) await Deno.remove(kvDirectory, { recursive: true }).catch(() => {});
    throw new Error(`server not ${what} within 15 s (last: ${last}):\n${output}`);
  };
  const readyBy = Date.now() + 15_000;
  let last = "no answer";
  for (;;) {
    try {
      const response = await fetch(`${url}/readyz`);
      last = `${response.status} ${await response.text()}`.trim();
      if (response.ok) break;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > readyBy) await giveUp("ready", last);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (options.parallel) {
    // Every isolate reports itself in /metrics once it runs: wait for all of them.
    const allBy = Date.now() + 15_000;
    for (;;) {
      const metrics = await fetch(`${url}/metrics`).then((r) => r.text()).catch(String);
      const isolates = Number(/^tidings_isolates (\d+)$/m.exec(metrics)?.[1] ?? 0);
      if (isolates >= options.parallel) break;
      if (Date.now() > allBy) {
        await giveUp(`running ${options.parallel} isolates`, `${isolates} isolate(s)`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  let stopped: Promise<number> | undefined;
  const stop = (signal: Deno.Signal = "SIGTERM") => {
    if (!stopped) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
      stopped = (async () => {
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // gone
          }
        }, 10_000);
        const code = await exited;
        clearTimeout(timer);
        await collecting;
        if (kvDirectory) await Deno.remove(kvDirectory, { recursive: true }).catch(() => {});
        return code;
      })();
    }
    return stopped;
  };
  return {
    url,
    port,
    pid: child.pid,
    output: () => output,
    stop,
    close: async () => {
      await stop("SIGTERM");
    },
  };
}
