/**
 * Parent side of the load tool's child processes: spawns `load_worker.ts` processes (with the
 * soft file-descriptor limit raised to the hard one), sends commands and collects replies.
 *
 * @module
 */

import type { WorkerCommand } from "./load_worker.ts";

const workerPath = new URL("./load_worker.ts", import.meta.url).pathname;

/** One child process. */
export class LoadWorker {
  readonly pid: number;
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #nextId = 1;
  #waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  #encoder = new TextEncoder();
  #exited: Promise<Deno.CommandStatus>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.pid = child.pid;
    this.#writer = child.stdin.getWriter();
    this.#exited = child.status;
    this.#readReplies();
    this.#exited.then(() => {
      for (const waiter of this.#waiting.values()) waiter.reject(new Error("load worker exited"));
      this.#waiting.clear();
    });
  }

  /**
   * Spawns one worker process.
   *
   * @example
   * ```ts ignore
   * const worker = LoadWorker.spawn();
   * ```
   */
  static spawn(): LoadWorker {
    const script = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';
    const child = new Deno.Command("sh", {
      args: [
        "-c",
        script,
        "sh",
        Deno.execPath(),
        "run",
        "--quiet",
        "--allow-net",
        "--allow-read",
        workerPath,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    return new LoadWorker(child);
  }

  /**
   * Sends a command and resolves with the worker's result (rejects on a worker error).
   *
   * @example
   * ```ts ignore
   * const stats = await worker.call({ op: "stats" });
   * ```
   */
  call<T = unknown>(command: WorkerCommand): Promise<T> {
    const id = this.#nextId++;
    const promise = new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
    });
    this.#writer.write(this.#encoder.encode(JSON.stringify({ id, command }) + "\n")).catch(
      () => {},
    );
    return promise;
  }

  /**
   * Asks the worker to close its connections and exit; kills it if it does not within 5 s.
   *
   * @example
   * ```ts ignore
   * await worker.stop();
   * ```
   */
  async stop(): Promise<void> {
    const done = this.call({ op: "exit" }).catch(() => {});
    const timeout = new Promise((resolve) => setTimeout(resolve, 5000, "timeout"));
    const outcome = await Promise.race([this.#exited, timeout]);
    if (outcome === "timeout") {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // gone
      }
    }
    await done;
    await this.#writer.close().catch(() => {});
    await this.#exited;
  }

  async #readReplies(): Promise<void> {
    let carry = "";
    for await (const text of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
      carry += text;
      let newline: number;
      while ((newline = carry.indexOf("\n")) >= 0) {
        const line = carry.slice(0, newline);
        carry = carry.slice(newline + 1);
        const message = JSON.parse(line) as {
          id: number;
          ok: boolean;
          result?: unknown;
          error?: string;
        };
        const waiter = this.#waiting.get(message.id);
        if (!waiter) continue;
        this.#waiting.delete(message.id);
        if (message.ok) waiter.resolve(message.result);
        else waiter.reject(new Error(message.error));
      }
    }
  }
}

/**
 * Several workers used together.
 *
 * @example
 * ```ts ignore
 * const pool = WorkerPool.spawn(2);
 * await pool.stop();
 * ```
 */
export class WorkerPool {
  readonly workers: LoadWorker[];

  private constructor(workers: LoadWorker[]) {
    this.workers = workers;
  }

  /**
   * Spawns `count` workers.
   *
   * @example
   * ```ts ignore
   * const pool = WorkerPool.spawn(2);
   * ```
   */
  static spawn(count: number): WorkerPool {
    return new WorkerPool(Array.from({ length: count }, () => LoadWorker.spawn()));
  }

  /** Pids of the workers. */
  get pids(): number[] {
    return this.workers.map((worker) => worker.pid);
  }

  /**
   * Sends the same command to every worker.
   *
   * @example
   * ```ts ignore
   * const all = await pool.broadcast({ op: "stats" });
   * ```
   */
  broadcast<T = unknown>(command: WorkerCommand): Promise<T[]> {
    return Promise.all(this.workers.map((worker) => worker.call<T>(command)));
  }

  /**
   * Stops every worker.
   *
   * @example
   * ```ts ignore
   * await pool.stop();
   * ```
   */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop()));
  }
}
