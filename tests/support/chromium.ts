/**
 * A small Chrome DevTools Protocol driver for browser tests: launches headless Chromium with a
 * throw-away profile and opens pages ({@link Page}, in `cdp_page.ts`) over Deno's built-in
 * `WebSocket`.
 *
 * @module
 */

import { Page } from "./cdp_page.ts";

export { Page, type PageProblem, type WaitOptions } from "./cdp_page.ts";

/**
 * Where Chromium is looked for, in order (after `$TIDINGS_CHROMIUM`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CHROMIUM_CANDIDATES } from "./chromium.ts";
 * assert.ok(CHROMIUM_CANDIDATES[0] === "/usr/bin/chromium");
 * ```
 */
export const CHROMIUM_CANDIDATES: readonly string[] = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
];

/**
 * The path of a Chromium executable (`$TIDINGS_CHROMIUM` first, then the usual places), or null.
 *
 * @example
 * ```ts
 * import { findChromium } from "./chromium.ts";
 * const path = findChromium();
 * console.log(path ?? "no chromium here");
 * ```
 */
export function findChromium(): string | null {
  const configured = Deno.env.get("TIDINGS_CHROMIUM");
  for (const candidate of configured ? [configured] : CHROMIUM_CANDIDATES) {
    try {
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      // not there
    }
  }
  return null;
}

/**
 * Options of {@link launchChromium}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LaunchOptions } from "./chromium.ts";
 * const phone: LaunchOptions = { width: 390, height: 844 };
 * assert.ok(phone.width === 390);
 * ```
 */
export interface LaunchOptions {
  /** The executable; default {@link findChromium}. */
  executable?: string;
  /** Window size in CSS pixels. Default 1440×900. */
  width?: number;
  height?: number;
}

/**
 * A running headless Chromium with its own temporary profile.
 *
 * @example
 * ```ts ignore
 * import { launchChromium } from "./chromium.ts";
 * const browser = await launchChromium();
 * try {
 *   const page = await browser.newPage("http://127.0.0.1:8000/");
 *   await page.waitFor("the page is ready", "document.readyState === 'complete'");
 * } finally {
 *   await browser.close();
 * }
 * ```
 */
export interface Browser {
  /** The DevTools HTTP endpoint, e.g. `http://127.0.0.1:41234`. */
  endpoint: string;
  /** Opens a new tab at `url` (default about:blank) and connects to it. */
  newPage(url?: string): Promise<Page>;
  /** Closes the browser, kills it if it lingers, and removes the profile directory. */
  close(): Promise<void>;
}

/**
 * Launches headless Chromium (`--remote-debugging-port=0`) and reads its DevTools port from
 * `<profile>/DevToolsActivePort`. Throws with a clear message when no Chromium is found.
 *
 * @example
 * ```ts ignore
 * import { launchChromium } from "./chromium.ts";
 * const browser = await launchChromium();
 * try {
 *   const page = await browser.newPage("about:blank");
 *   console.log(await page.evaluate("navigator.userAgent"));
 * } finally {
 *   await browser.close();
 * }
 * ```
 */
export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  const executable = options.executable ?? findChromium();
  if (!executable) {
    throw new Error(
      `Chromium not found (looked at ${CHROMIUM_CANDIDATES.join(", ")}; set TIDINGS_CHROMIUM ` +
        "to another path). Install it with `apt-get install -y chromium`, or set " +
        "TIDINGS_SKIP_BROWSER=1 to skip browser tests.",
    );
  }
  const profile = await Deno.makeTempDir({ prefix: "tidings-chromium-" });
  const child = new Deno.Command(executable, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      "--disable-dev-shm-usage",
      "--hide-scrollbars",
      "--mute-audio",
      `--window-size=${options.width ?? 1440},${options.height ?? 900}`,
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const decoder = new TextDecoder();
  const draining = (async () => {
    for await (const chunk of child.stderr) {
      if (stderr.length < 20_000) stderr += decoder.decode(chunk, { stream: true });
    }
  })();
  let exited = false;
  const status = child.status.then((result) => {
    exited = true;
    return result;
  });
  const cleanUp = async () => {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    await status;
    await draining.catch(() => {});
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  };
  let endpoint: string;
  let browserSocketPath: string;
  try {
    [endpoint, browserSocketPath] = await readDevToolsPort(profile, () => exited, () => stderr);
  } catch (error) {
    await cleanUp();
    throw error;
  }
  const pages: Page[] = [];
  return {
    endpoint,
    async newPage(url = "about:blank") {
      const response = await fetch(`${endpoint}/json/new?${encodeURI(url)}`, { method: "PUT" });
      if (!response.ok) {
        throw new Error(`/json/new answered ${response.status}: ${await response.text()}`);
      }
      const target = await response.json() as { webSocketDebuggerUrl: string };
      const page = await Page.connect(target.webSocketDebuggerUrl);
      pages.push(page);
      return page;
    },
    async close() {
      for (const page of pages) page.close();
      if (!exited) {
        // Ask politely over the browser target, then fall back to SIGKILL.
        try {
          const socket = new WebSocket(
            `ws://${endpoint.slice("http://".length)}${browserSocketPath}`,
          );
          await new Promise<void>((resolve, reject) => {
            socket.onopen = () => {
              socket.send(JSON.stringify({ id: 1, method: "Browser.close" }));
              resolve();
            };
            socket.onerror = () => reject(new Error("browser socket failed"));
          });
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            status,
            new Promise((resolve) => timer = setTimeout(resolve, 5000)),
          ]);
          clearTimeout(timer);
          socket.close();
        } catch {
          // fall through to the kill
        }
      }
      await cleanUp();
    },
  };
}

async function readDevToolsPort(
  profile: string,
  hasExited: () => boolean,
  stderr: () => string,
): Promise<[string, string]> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error(`Chromium exited during start-up:\n${stderr().slice(-4000)}`);
    try {
      const [port, path] = (await Deno.readTextFile(`${profile}/DevToolsActivePort`)).split("\n");
      if (/^\d+$/.test(port) && path?.startsWith("/devtools/browser/")) {
        return [`http://127.0.0.1:${port}`, path.trim()];
      }
    } catch {
      // not written yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Chromium did not report a DevTools port within 20 s:\n${stderr().slice(-4000)}`);
}
