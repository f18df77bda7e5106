/**
 * A DevTools protocol session on one browser page, over Deno's built-in `WebSocket`: send
 * commands, evaluate expressions, poll the DOM, type, take screenshots, and collect what the page
 * threw or logged. `chromium.ts` launches the browser these pages live in.
 *
 * @module
 */

/**
 * Something the page logged or threw, as reported by the DevTools protocol.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PageProblem } from "./cdp_page.ts";
 * const problem: PageProblem = { kind: "exception", text: "TypeError: x is undefined" };
 * assert.ok(problem.kind === "exception");
 * ```
 */
export interface PageProblem {
  kind: "exception" | "console" | "log";
  text: string;
}

/**
 * Options of {@link Page.waitFor}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WaitOptions } from "./cdp_page.ts";
 * const patient: WaitOptions = { timeoutMs: 30_000, intervalMs: 250 };
 * assert.ok(patient.timeoutMs === 30_000);
 * ```
 */
export interface WaitOptions {
  /** Give up after this long. Default 15 000 ms. */
  timeoutMs?: number;
  /** Poll interval. Default 100 ms. */
  intervalMs?: number;
}

/**
 * A DevTools protocol session on one page target. Get one from `Browser.newPage()` (see
 * `chromium.ts`) or {@link Page.connect}.
 *
 * @example
 * ```ts ignore
 * import { launchChromium } from "./chromium.ts";
 * const browser = await launchChromium();
 * const page = await browser.newPage("about:blank");
 * console.log(await page.evaluate<number>("1 + 1"), page.problems);
 * await browser.close();
 * ```
 */
export class Page {
  #socket: WebSocket;
  #nextId = 1;
  #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  #listeners = new Map<string, Set<(params: Record<string, unknown>) => void>>();
  /** Uncaught exceptions, console errors and error log entries seen so far. */
  readonly problems: PageProblem[] = [];

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener("message", (event) => this.#receive(String(event.data)));
    socket.addEventListener("close", () => {
      for (const { reject } of this.#pending.values()) reject(new Error("DevTools socket closed"));
      this.#pending.clear();
    });
  }

  /**
   * Connects to a page target's `webSocketDebuggerUrl` and enables the Page, Runtime and Log
   * domains.
   *
   * @example
   * ```ts ignore
   * import { Page } from "./chromium.ts";
   * const page = await Page.connect("ws://127.0.0.1:9222/devtools/page/ABC");
   * page.close();
   * ```
   */
  static async connect(webSocketUrl: string): Promise<Page> {
    const socket = new WebSocket(webSocketUrl);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener(
        "error",
        () => reject(new Error(`cannot open DevTools socket ${webSocketUrl}`)),
        { once: true },
      );
    });
    const page = new Page(socket);
    page.on("Runtime.exceptionThrown", (params) => {
      const details = params.exceptionDetails as Record<string, unknown>;
      const exception = details?.exception as Record<string, unknown> | undefined;
      page.problems.push({
        kind: "exception",
        text: String(exception?.description ?? details?.text ?? "exception"),
      });
    });
    page.on("Runtime.consoleAPICalled", (params) => {
      if (params.type !== "error" && params.type !== "warning") return;
      const args = (params.args as Record<string, unknown>[] | undefined) ?? [];
      const text = args.map((arg) => String(arg.value ?? arg.description ?? "")).join(" ");
      page.problems.push({ kind: "console", text });
    });
    page.on("Log.entryAdded", (params) => {
      const entry = params.entry as Record<string, unknown>;
      if (entry?.level === "error") page.problems.push({ kind: "log", text: String(entry.text) });
    });
    await Promise.all([
      page.send("Page.enable"),
      page.send("Runtime.enable"),
      page.send("Log.enable"),
    ]);
    return page;
  }

  /**
   * Sends a protocol command and resolves with its result (rejects with the protocol's error).
   *
   * @example
   * ```ts ignore
   * const { data } = await page.send("Page.captureScreenshot", { format: "png" });
   * ```
   */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /**
   * Calls `listener` for every protocol event named `method`.
   *
   * @example
   * ```ts ignore
   * page.on("Page.loadEventFired", () => console.log("loaded"));
   * ```
   */
  on(method: string, listener: (params: Record<string, unknown>) => void): void {
    if (!this.#listeners.has(method)) this.#listeners.set(method, new Set());
    this.#listeners.get(method)!.add(listener);
  }

  /**
   * Navigates to `url` and waits for its load event.
   *
   * @example
   * ```ts ignore
   * await page.navigate("http://127.0.0.1:8000/");
   * ```
   */
  async navigate(url: string, timeoutMs = 15_000): Promise<void> {
    let onLoad!: () => void;
    const loaded = new Promise<void>((resolve) => onLoad = resolve);
    this.on("Page.loadEventFired", () => onLoad());
    const result = await this.send("Page.navigate", { url });
    if (result.errorText) throw new Error(`navigation to ${url} failed: ${result.errorText}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${url} did not load within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([loaded, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Evaluates a JavaScript expression in the page (awaiting a promise) and returns its value
   * (JSON-serialisable values only). A thrown error becomes a rejected promise here.
   *
   * @example
   * ```ts ignore
   * const title = await page.evaluate<string>("document.title");
   * ```
   */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const result = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    const details = result.exceptionDetails as Record<string, unknown> | undefined;
    if (details) {
      const exception = details.exception as Record<string, unknown> | undefined;
      throw new Error(`page threw: ${exception?.description ?? details.text}`);
    }
    return (result.result as { value: T }).value;
  }

  /**
   * Polls `expression` until it returns a truthy value, and returns that value. Fails after the
   * timeout with `what` and the expression's last value, so a failing test says what was missing.
   *
   * @example
   * ```ts ignore
   * const price = await page.waitFor<string>(
   *   "AAPL has a price",
   *   `document.querySelector('[data-symbol="AAPL"] .price')?.textContent`,
   * );
   * ```
   */
  async waitFor<T = unknown>(
    what: string,
    expression: string,
    options: WaitOptions = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 15_000;
    const intervalMs = options.intervalMs ?? 100;
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (true) {
      last = await this.evaluate<unknown>(expression);
      if (last) return last as T;
      if (Date.now() >= deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting until ${what}; last value ${
            JSON.stringify(last)
          }`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  /**
   * Types text into the focused element as a user would (fires `input` events).
   *
   * @example
   * ```ts ignore
   * await page.evaluate("document.querySelector('#chat-name').focus()");
   * await page.type("ann");
   * ```
   */
  async type(text: string): Promise<void> {
    await this.send("Input.insertText", { text });
  }

  /**
   * Captures the whole page (not only the viewport) as PNG bytes.
   *
   * @example
   * ```ts ignore
   * await Deno.writeFile("/tmp/page.png", await page.screenshot());
   * ```
   */
  async screenshot(): Promise<Uint8Array> {
    const metrics = await this.send("Page.getLayoutMetrics");
    const size = (metrics.cssContentSize ?? metrics.contentSize) as {
      width: number;
      height: number;
    };
    const { data } = await this.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: Math.ceil(size.width), height: Math.ceil(size.height), scale: 1 },
    });
    return Uint8Array.from(atob(String(data)), (char) => char.charCodeAt(0));
  }

  /**
   * Closes the DevTools socket (the page stays until the browser closes).
   *
   * @example
   * ```ts ignore
   * page.close();
   * ```
   */
  close(): void {
    this.#socket.close();
  }

  #receive(text: string): void {
    const message = JSON.parse(text);
    if (typeof message.id === "number") {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.error) {
        pending.reject(new Error(`${message.error.message} (${message.error.code})`));
      } else pending.resolve(message.result ?? {});
    } else if (typeof message.method === "string") {
      for (const listener of this.#listeners.get(message.method) ?? []) {
        listener(message.params ?? {});
      }
    }
  }
}
