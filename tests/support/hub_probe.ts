/**
 * Helpers for tests against a running hub: its `/metrics` as numbers, bounded polling, and HTTP
 * clients pinned to a known isolate of a `--parallel` server.
 *
 * @module
 */

/**
 * Reads `/metrics` into a map from sample name (labels included, as written) to value. Comment
 * lines are skipped; a line that is not a valid sample throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readMetrics } from "./hub_probe.ts";
 * const metrics = await readMetrics("http://127.0.0.1:8000");
 * assert.ok(metrics.has("tidings_open_connections"));
 * ```
 */
export async function readMetrics(
  baseUrl: string,
  client?: Deno.HttpClient,
): Promise<Map<string, number>> {
  const response = await fetch(`${baseUrl}/metrics`, { client });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${text}`);
  return parseMetrics(text);
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.eE+-]+|NaN|[+-]Inf)$/;

/**
 * Parses the Prometheus text format (samples only).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMetrics } from "./hub_probe.ts";
 * const metrics = parseMetrics("# TYPE a gauge\na 1\nb{x=\"y\"} 2\n");
 * assert.ok(metrics.get('b{x="y"}') === 2);
 * ```
 */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    if (samples.has(match[1])) throw new Error(`sample ${match[1]} appears twice`);
    samples.set(match[1], Number(match[2]));
  }
  return samples;
}

/**
 * Polls `check` every 50 ms until it returns true; throws with `what` after `timeoutMs`.
 *
 * @example
 * ```ts
 * import { waitUntil } from "./hub_probe.ts";
 * await waitUntil("always", () => true);
 * ```
 */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Fails (instead of hanging) when `promise` does not settle within `ms`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { within } from "./hub_probe.ts";
 * assert.equal(await within(1000, Promise.resolve(1), "one"), 1);
 * await assert.rejects(within(10, new Promise(() => {}), "never"), /never: not done within 10 ms/);
 * ```
 */
export function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * An HTTP client whose (kept-alive) connection is served by a known isolate.
 *
 * @example
 * ```ts
 * import { type PinnedClient, pinnedClients } from "./hub_probe.ts";
 * const [first]: PinnedClient[] = (await pinnedClients("http://127.0.0.1:8000", "token", [1])).clients;
 * await fetch("http://127.0.0.1:8000/metrics", { client: first.client });
 * first.client.close();
 * ```
 */
export interface PinnedClient {
  client: Deno.HttpClient;
  /** The isolate's short id, as the `x-tidings-isolate` header of a publish names it. */
  isolate: string;
}

/**
 * Makes clients spread over the isolates of a `--parallel` server: each opens its connection
 * with a publish (to `topic`), whose `x-tidings-isolate` header names the isolate; the client's
 * next request reuses that connection. Connections made concurrently spread over the isolates.
 * Returns `perIsolate[i]` clients for the i-th isolate seen (order of first appearance), and the
 * number of probe publishes made; surplus clients are closed.
 *
 * @example
 * ```ts
 * import { pinnedClients } from "./hub_probe.ts";
 * const { clients } = await pinnedClients("http://127.0.0.1:8000", "token", [1, 1]);
 * for (const { client } of clients) client.close();
 * ```
 */
export async function pinnedClients(
  baseUrl: string,
  token: string,
  perIsolate: number[],
  topic = "pinning-probe",
): Promise<{ clients: PinnedClient[]; probes: number }> {
  let probes = 0;
  const byIsolate = new Map<string, PinnedClient[]>();
  const done = () =>
    byIsolate.size >= perIsolate.length &&
    [...byIsolate.values()].every((list, index) => list.length >= perIsolate[index]);
  for (let round = 0; round < 60 && !done(); round++) {
    // Later rounds give a slow-starting isolate time to take connections.
    if (round > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    const clients = Array.from({ length: 8 }, () => Deno.createHttpClient({}));
    probes += clients.length;
    const isolates = await Promise.all(clients.map(async (client) => {
      const response = await fetch(`${baseUrl}/.well-known/mercure`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: new URLSearchParams({ topic, data: "probe" }),
        client,
      });
      await response.text();
      if (response.status !== 200) throw new Error(`probe publish answered ${response.status}`);
      return response.headers.get("x-tidings-isolate")!;
    }));
    clients.forEach((client, index) => {
      const isolate = isolates[index];
      if (!byIsolate.has(isolate) && byIsolate.size < perIsolate.length) {
        byIsolate.set(isolate, []);
      }
      const list = byIsolate.get(isolate);
      const position = [...byIsolate.keys()].indexOf(isolate);
      if (list && list.length < perIsolate[position]) list.push({ client, isolate });
      else client.close();
    });
  }
  if (!done()) {
    for (const list of byIsolate.values()) for (const { client } of list) client.close();
    throw new Error(`could not spread clients over ${perIsolate.length} isolates`);
  }
  return { clients: [...byIsolate.values()].flat(), probes };
}
