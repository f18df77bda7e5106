/**
 * Keeping `deno serve` serving through descriptor exhaustion. When an accept fails with "Too many
 * open files", Deno's serve loop ends with an unhandled `Deno.errors.Http` rejection, which would
 * kill the process and every connection. Here that rejection is logged and prevented: the
 * connections already open keep going (they live on after the loop), and the isolate listens
 * again on the same address, retrying with a back-off until descriptors are free. With
 * `--parallel` the isolate that rebinds first serves new connections; the others keep theirs.
 *
 * @module
 */

import { log } from "../util/logger.ts";

/** Shared by every isolate of the process (the environment is per process). */
const ADDRESS_VARIABLE = "TIDINGS_SERVE_ADDRESS";
const MAX_BACKOFF_MS = 1000;
/** Rebinding finds the port taken this many times in a row: another isolate serves it. */
const ADDRESS_IN_USE_TRIES = 20;

/**
 * Whether an unhandled rejection is a failure of the serve loop or of running out of descriptors,
 * which the process survives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isListenerFailure } from "./serve_recovery.ts";
 * assert.ok(isListenerFailure(new Deno.errors.Http("Too many open files (os error 24)")));
 * assert.ok(isListenerFailure(new Error("Too many open files (os error 24)")));
 * assert.ok(!isListenerFailure(new TypeError("x is undefined")));
 * ```
 */
export function isListenerFailure(reason: unknown): boolean {
  if (reason instanceof Deno.errors.Http) return true;
  return /\(os error 2[34]\)/.test(String((reason as Error)?.message ?? reason));
}

/**
 * Remembers where `deno serve` listens (for every isolate) and prints the line `deno serve`
 * prints when the module exports no `onListen`.
 *
 * @example
 * ```ts ignore
 * export default { fetch, onListen: rememberServeAddress };
 * ```
 */
export function rememberServeAddress(addr: Deno.Addr): void {
  if (addr.transport !== "tcp") return;
  try {
    Deno.env.set(ADDRESS_VARIABLE, JSON.stringify([addr.hostname, addr.port]));
  } catch { /* no env access: the isolate cannot rebind, it still survives */ }
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  console.log(`deno serve: Listening on http://${host}:${addr.port}/`);
}

/**
 * Installs the unhandled-rejection guard: a listener failure is logged, not fatal, and (under
 * `deno serve`, once {@link rememberServeAddress} ran) the isolate listens again with `handler`.
 * Other unhandled rejections keep Deno's default (the process exits).
 *
 * @example
 * ```ts ignore
 * recoverServeLoop((request, info) => app.fetch(request, info));
 * ```
 */
export function recoverServeLoop(handler: Deno.ServeHandler): void {
  let rebinding = false;
  globalThis.addEventListener("unhandledrejection", (event) => {
    if (!isListenerFailure(event.reason)) return;
    event.preventDefault();
    log("error", "listener failed; open connections keep going", {
      error: String((event.reason as Error)?.message ?? event.reason),
    });
    if (rebinding) return;
    const address = servedAddress();
    if (address === null) return;
    rebinding = true;
    rebind(address, handler).finally(() => rebinding = false);
  });
}

function servedAddress(): { hostname: string; port: number } | null {
  try {
    const raw = Deno.env.get(ADDRESS_VARIABLE);
    if (!raw) return null;
    const [hostname, port] = JSON.parse(raw) as [string, number];
    return { hostname, port };
  } catch {
    return null;
  }
}

async function rebind(
  address: { hostname: string; port: number },
  handler: Deno.ServeHandler,
): Promise<void> {
  let inUse = 0;
  for (let backoff = 50;; backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)) {
    await new Promise((resolve) => setTimeout(resolve, backoff));
    try {
      Deno.serve({
        ...address,
        onListen: () => log("warn", "listening again after a listener failure", address),
      }, handler);
      return;
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse && ++inUse >= ADDRESS_IN_USE_TRIES) {
        log("info", "another isolate serves the address; this one keeps its connections");
        return;
      }
      if (!(error instanceof Deno.errors.AddrInUse)) inUse = 0;
      log("warn", "listening again failed; retrying", { error: String(error), retryMs: backoff });
    }
  }
}
