/**
 * Debian's `redis-server` for the cluster bench: a fresh server on a free loopback port with its
 * own temporary folder, AOF on (`appendfsync` as asked), no RDB snapshots. Unlike the test
 * starter it exposes the process id, so the bench can weigh Redis's own CPU.
 *
 * @module
 */

/** A running Redis server. */
export interface BenchRedis {
  port: number;
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  pid: number;
  /** Stops the server and removes its folder. */
  close(): Promise<void>;
}

/** Where Debian installs the server. */
export const REDIS_SERVER = "/usr/bin/redis-server";

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
      return new TextDecoder().decode(buffer.subarray(0, count ?? 0)).startsWith("+PONG");
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

/**
 * Starts a Redis server; `appendfsync` is `everysec` (Redis's own default with AOF) unless told.
 *
 * @example
 * ```ts ignore
 * import { startBenchRedis } from "./redis_server.ts";
 * const redis = await startBenchRedis("everysec");
 * await redis.close();
 * ```
 */
export async function startBenchRedis(
  appendfsync: "always" | "everysec" = "everysec",
): Promise<BenchRedis> {
  const dir = await Deno.makeTempDir({ prefix: "tidings-bench-redis-" });
  const port = freePort();
  const child = new Deno.Command(REDIS_SERVER, {
    args: [
      ...["--port", String(port), "--bind", "127.0.0.1", "--dir", dir],
      ...["--appendonly", "yes", "--appendfsync", appendfsync, "--save", ""],
      ...["--daemonize", "no", "--logfile", `${dir}/redis.log`],
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 10_000;
  while (!(await answers(port))) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`redis-server on port ${port} did not start`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    close: async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
