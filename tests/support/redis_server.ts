/**
 * Starts Debian's `redis-server` on a free loopback port with its own temporary folder (AOF on,
 * `appendfsync always` unless told otherwise), for tests. It can be stopped and started again on
 * the same port and folder, to test what survives a restart.
 *
 * @module
 */

/** A running (or stopped) Redis server. */
export interface RunningRedis {
  port: number;
  /** `redis://…` for the server (with the password, when one is set). */
  url: string;
  dir: string;
  /**
   * Stops the server (by default with SIGTERM: it flushes the AOF; SIGKILL for a crash), waiting
   * for it to exit.
   */
  stop(signal?: Deno.Signal): Promise<void>;
  /** Starts it again on the same port and folder (after {@link stop}). */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
}

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** `requirepass`. */
  password?: string;
  /** `appendfsync`. Default `always` (every acknowledged write is on disk). */
  appendfsync?: "always" | "everysec";
  /** More arguments for `redis-server` (`--replicaof 127.0.0.1 <port>`, say), kept on restarts. */
  args?: string[];
}

/** Whether `redis-server` is installed (tests that need it are skipped without it). */
export const haveRedis: boolean = (() => {
  try {
    return Deno.statSync("/usr/bin/redis-server").isFile;
  } catch {
    return false;
  }
})();

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function answers(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buffer = new Uint8Array(64);
      const count = await conn.read(buffer);
      const text = new TextDecoder().decode(buffer.subarray(0, count ?? 0));
      // A password-protected server answers NOAUTH: it is up.
      return text.startsWith("+PONG") || text.startsWith("-NOAUTH");
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

/**
 * Starts a Redis server for a test.
 *
 * @example
 * ```ts ignore
 * import { startRedis } from "./redis_server.ts";
 * const redis = await startRedis();
 * await redis.close();
 * ```
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RunningRedis> {
  const dir = await Deno.makeTempDir({ prefix: "tidings-test-redis-" });
  const port = freePort();
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    const args = [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      options.appendfsync ?? "always",
      "--save",
      "",
      "--daemonize",
      "no",
      "--logfile",
      `${dir}/redis.log`,
    ];
    if (options.password) args.push("--requirepass", options.password);
    args.push(...options.args ?? []);
    child = new Deno.Command("/usr/bin/redis-server", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = Date.now() + 10_000;
    while (!(await answers(port))) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (!child) return;
    const running = child;
    child = undefined;
    try {
      running.kill(signal);
    } catch {
      // Already gone.
    }
    await running.status;
  };
  await start();
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : "";
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    dir,
    stop,
    start,
    close: async () => {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
