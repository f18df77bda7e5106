/**
 * Command-line flags of `bench/run.ts`, with the full and `--smoke` sizes.
 *
 * @module
 */

/** Sizes of every scenario. */
export interface Sizes {
  fanoutSubscribers: number;
  fanoutRate: number;
  burstSubscribers: number;
  burstPublishers: number;
  topicsSubscribers: number;
  topics: number;
  topicsRate: number;
  idleConnections: number;
  idleSettleMs: number;
  durablePublishers: number[];
  durableDurationMs: number;
  durableTopics: number;
  catchupEvents: number;
  catchupRounds: number;
  /** Reconnect storm: subscribers resuming at once, and the events each missed. */
  stormSubscribers: number;
  stormEvents: number;
  /** Connection rate: sizes of the crowds of fresh subscribers arriving at once (one run each). */
  arrivalSizes: number[];
  /** Connect attempts in flight per subscriber process in scenarios 7 and 8 (0: all at once). */
  arrivalConcurrency: number;
  /** Back-to-back publishing: subscribers of the one topic. */
  serialSubscribers: number;
}

/** Everything the run needs. */
export interface BenchOptions {
  smoke: boolean;
  targets: string[];
  scenarios: string[];
  sizes: Sizes;
  durationMs: number;
  payloadBytes: number;
  isolates: number;
  clientProcesses: number;
  /** Connection attempts in flight per subscriber process. */
  connectConcurrency: number;
  port: number;
  serverEnv: Record<string, string>;
  nchanDurableReference: boolean;
  jsonPath?: string;
  markdownPath?: string;
  maxMinutes: number;
  /** Runs of each scenario × target; tables show the median of each figure. */
  repeat: number;
}

/** Headings of the scenario tables. */
export const SCENARIO_TITLES: Record<string, string> = {
  fanout: "1. Fan-out: many subscribers on one topic, fixed publish rate",
  "fanout-max": "1b. Fan-out at capacity: same subscribers, publish as fast as the hub accepts",
  burst: "2. Burst: 500 subscribers, publish as fast as the hub accepts",
  topics: "3. Topics: subscribers spread over 100 topics",
  idle: "4. Idle connections: memory per connection",
  durable: "5. Publish throughput (tidings: durable in KV; nchan: memory only)",
  catchup: "6. Catch-up: reconnect with Last-Event-ID 1,000 events behind",
  storm:
    "7. Reconnect storm: subscribers arrive at once with Last-Event-ID, each missed the same events",
  "storm-restart":
    "7b. Reconnect storm after a restart: the server restarts on the same store, then the subscribers arrive at once",
  arrival: "8. Connection rate: fresh subscribers arriving at once",
  serial:
    "9. One publisher back to back: 500 subscribers, each publish sent when the previous is answered",
};

/**
 * The heading of a scenario's table (`arrival-N` runs are titled by their size).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scenarioTitle } from "./options.ts";
 * assert.equal(scenarioTitle("arrival-2000"), "8. Connection rate: 2,000 fresh subscribers arriving at once");
 * ```
 */
export function scenarioTitle(scenario: string): string {
  const arrival = /^arrival-(\d+)$/.exec(scenario);
  if (arrival) {
    return `8. Connection rate: ${
      Number(arrival[1]).toLocaleString("en-US")
    } fresh subscribers arriving at once`;
  }
  return SCENARIO_TITLES[scenario] ?? scenario;
}

const ALL_SCENARIOS = [
  "fanout",
  "fanout-max",
  "burst",
  "topics",
  "idle",
  "durable",
  "catchup",
  "storm",
  "storm-restart",
  "arrival",
  "serial",
];
const ALL_TARGETS = ["nchan", "tidings", "tidings-parallel", "tidings-direct"];
/** Targets run only when named: Deno's own floor (single-topic scenarios only). */
const EXTRA_TARGETS = ["floor-serve", "floor-listen", "floor-serve-parallel"];

const FULL: Sizes = {
  fanoutSubscribers: 5000,
  fanoutRate: 20,
  burstSubscribers: 500,
  burstPublishers: 8,
  topicsSubscribers: 10_000,
  topics: 100,
  topicsRate: 200,
  idleConnections: 19_000,
  idleSettleMs: 3000,
  durablePublishers: [1, 100],
  durableDurationMs: 5000,
  durableTopics: 1,
  catchupEvents: 1000,
  catchupRounds: 5,
  stormSubscribers: 10_000,
  stormEvents: 100,
  arrivalSizes: [2000, 5000, 10_000],
  arrivalConcurrency: 0,
  serialSubscribers: 500,
};

const SMOKE: Sizes = {
  fanoutSubscribers: 100,
  fanoutRate: 20,
  burstSubscribers: 50,
  burstPublishers: 4,
  topicsSubscribers: 200,
  topics: 10,
  topicsRate: 100,
  idleConnections: 300,
  idleSettleMs: 300,
  durablePublishers: [1, 10],
  durableDurationMs: 1000,
  durableTopics: 1,
  catchupEvents: 100,
  catchupRounds: 2,
  stormSubscribers: 200,
  stormEvents: 20,
  arrivalSizes: [200],
  arrivalConcurrency: 0,
  serialSubscribers: 50,
};

function flagMap(args: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const arg of args) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unexpected argument ${arg} (flags look like --name=value)`);
    map.set(match[1], match[2] ?? "true");
  }
  return map;
}

/**
 * Parses the flags (see bench/README.md).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOptions } from "./options.ts";
 * const options = parseOptions(["--smoke", "--targets=nchan,tidings"]);
 * assert.ok(options.smoke && options.targets.length === 2);
 * ```
 */
export function parseOptions(args: string[]): BenchOptions {
  const flags = flagMap(args);
  const known = new Set([
    "smoke",
    "targets",
    "scenarios",
    "duration",
    "payload",
    "isolates",
    "client-procs",
    "connect-concurrency",
    "port",
    "server-env",
    "nchan-durable",
    "json",
    "markdown",
    "max-minutes",
    "repeat",
    "fanout-subscribers",
    "fanout-rate",
    "burst-subscribers",
    "burst-publishers",
    "topics-subscribers",
    "topics",
    "topics-rate",
    "idle-connections",
    "idle-settle",
    "durable-publishers",
    "durable-duration",
    "durable-topics",
    "catchup-events",
    "catchup-rounds",
    "storm-subscribers",
    "storm-events",
    "arrival-subscribers",
    "arrival-concurrency",
    "serial-subscribers",
  ]);
  for (const name of flags.keys()) if (!known.has(name)) throw new Error(`unknown flag --${name}`);
  const smoke = flags.has("smoke");
  const base = smoke ? SMOKE : FULL;
  const int = (name: string, fallback: number) => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`--${name} needs a non-negative number`);
    }
    return value;
  };
  const list = (name: string, fallback: string[]) =>
    flags.get(name)?.split(",").map((s) => s.trim()) ?? fallback;
  const numbered = [
    "fanout",
    "burst",
    "topics",
    "idle",
    "durable",
    "catchup",
    "storm",
    "arrival",
    "serial",
  ];
  const scenarios = list("scenarios", ALL_SCENARIOS).map((s) => numbered[Number(s) - 1] ?? s);
  for (const s of scenarios) {
    if (!ALL_SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}`);
  }
  const targets = list("targets", ALL_TARGETS);
  for (const t of targets) {
    if (!ALL_TARGETS.includes(t) && !EXTRA_TARGETS.includes(t)) {
      throw new Error(`unknown target ${t}`);
    }
  }
  const sizes: Sizes = {
    fanoutSubscribers: int("fanout-subscribers", base.fanoutSubscribers),
    fanoutRate: int("fanout-rate", base.fanoutRate),
    burstSubscribers: int("burst-subscribers", base.burstSubscribers),
    burstPublishers: int("burst-publishers", base.burstPublishers),
    topicsSubscribers: int("topics-subscribers", base.topicsSubscribers),
    topics: Math.max(1, int("topics", base.topics)),
    topicsRate: int("topics-rate", base.topicsRate),
    idleConnections: int("idle-connections", base.idleConnections),
    idleSettleMs: int("idle-settle", base.idleSettleMs / 1000) * 1000,
    durablePublishers: list("durable-publishers", base.durablePublishers.map(String)).map(Number),
    durableDurationMs: int("durable-duration", base.durableDurationMs / 1000) * 1000,
    durableTopics: Math.max(1, int("durable-topics", base.durableTopics)),
    catchupEvents: int("catchup-events", base.catchupEvents),
    catchupRounds: Math.max(1, int("catchup-rounds", base.catchupRounds)),
    stormSubscribers: Math.max(1, int("storm-subscribers", base.stormSubscribers)),
    stormEvents: Math.max(1, int("storm-events", base.stormEvents)),
    arrivalSizes: list("arrival-subscribers", base.arrivalSizes.map(String)).map(Number),
    arrivalConcurrency: int("arrival-concurrency", base.arrivalConcurrency),
    serialSubscribers: Math.max(1, int("serial-subscribers", base.serialSubscribers)),
  };
  const biggest = Math.max(
    scenarios.includes("fanout") || scenarios.includes("fanout-max") ? sizes.fanoutSubscribers : 0,
    scenarios.includes("burst") ? sizes.burstSubscribers : 0,
    scenarios.includes("topics") ? sizes.topicsSubscribers : 0,
    scenarios.includes("idle") ? sizes.idleConnections : 0,
    scenarios.includes("storm") ? sizes.stormSubscribers : 0,
    scenarios.includes("arrival") ? Math.max(...sizes.arrivalSizes) : 0,
  );
  const serverEnv: Record<string, string> = {};
  for (const pair of (flags.get("server-env") ?? "").split(",").filter(Boolean)) {
    const [key, ...rest] = pair.split("=");
    serverEnv[key] = rest.join("=");
  }
  return {
    smoke,
    targets,
    scenarios,
    sizes,
    durationMs: int("duration", smoke ? 2 : 10) * 1000,
    payloadBytes: int("payload", 64),
    isolates: Math.max(2, int("isolates", 2)),
    clientProcesses: Math.max(1, int("client-procs", Math.max(4, Math.ceil(biggest / 9000)))),
    connectConcurrency: Math.max(1, int("connect-concurrency", 64)),
    port: int("port", 18_400),
    serverEnv,
    nchanDurableReference: flags.get("nchan-durable") !== "false",
    jsonPath: flags.get("json"),
    markdownPath: flags.get("markdown"),
    maxMinutes: int("max-minutes", smoke ? 3 : 40 * Math.max(1, int("repeat", 1))),
    repeat: Math.max(1, int("repeat", 1)),
  };
}
