/**
 * A minimal client of the V8 inspector protocol (over its WebSocket on loopback), for the bench's
 * CPU profiles and heap snapshots of a running tidings.
 *
 * @module
 */

/**
 * One inspector session on the first target of `127.0.0.1:port`.
 *
 * @example
 * ```ts ignore
 * import { Inspector } from "./inspector.ts";
 * const inspector = await Inspector.connect(9229);
 * await inspector.send("Profiler.enable");
 * inspector.close();
 * ```
 */
export class Inspector {
  #socket: WebSocket;
  #next = 1;
  #waiting = new Map<number, (result: unknown) => void>();
  #listeners = new Map<string, (params: Record<string, unknown>) => void>();

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.id && this.#waiting.has(message.id)) {
        this.#waiting.get(message.id)!(message.result ?? message.error);
        this.#waiting.delete(message.id);
      } else if (message.method) {
        this.#listeners.get(message.method)?.(message.params);
      }
    };
  }

  /**
   * Connects to the inspector listening on `port`.
   *
   * @example
   * ```ts ignore
   * import { Inspector } from "./inspector.ts";
   * (await Inspector.connect(9229)).close();
   * ```
   */
  static async connect(port: number): Promise<Inspector> {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    return new Inspector(socket);
  }

  /**
   * Calls `method`; resolves with its result.
   *
   * @example
   * ```ts ignore
   * import { Inspector } from "./inspector.ts";
   * const inspector = await Inspector.connect(9229);
   * await inspector.send("HeapProfiler.collectGarbage");
   * inspector.close();
   * ```
   */
  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    this.#socket.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve) => this.#waiting.set(id, resolve as (result: unknown) => void));
  }

  /**
   * Receives the events named `method` (one listener per method).
   *
   * @example
   * ```ts ignore
   * import { Inspector } from "./inspector.ts";
   * const inspector = await Inspector.connect(9229);
   * inspector.on("HeapProfiler.addHeapSnapshotChunk", (params) => console.log(params.chunk));
   * inspector.close();
   * ```
   */
  on(method: string, listener: (params: Record<string, unknown>) => void): void {
    this.#listeners.set(method, listener);
  }

  /**
   * Ends the session.
   *
   * @example
   * ```ts ignore
   * import { Inspector } from "./inspector.ts";
   * (await Inspector.connect(9229)).close();
   * ```
   */
  close(): void {
    this.#socket.close();
  }
}
