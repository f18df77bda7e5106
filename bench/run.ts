/**
 * `deno task bench`: loads tidings and nginx + nchan with the same SSE clients on loopback and
 * prints every figure beside nchan's as a ratio. See bench/README.md for flags.
 *
 * @module
 */

import { runCatchUp, runDurable } from "./durable_and_catchup.ts";
import { type LiveSpec, type Rig, runLive } from "./live.ts";
import { runArrival, runStorm } from "./storm_and_arrival.ts";
import { mergeRounds, type Outcome } from "./outcome.ts";
import { machineInfo } from "./proc_stats.ts";
import { renderTables, renderTargets } from "./report.ts";
import { type RunningTarget, startFloor, startNchan, startTidings } from "./servers.ts";
import { checkTargets } from "./targets.ts";
import { LoadWorker, WorkerPool } from "./worker_pool.ts";
import { type BenchOptions, parseOptions, scenarioTitle } from "./options.ts";

async function startTarget(
  name: string,
  options: BenchOptions,
  port: number,
): Promise<RunningTarget> {
  if (name === "nchan") return await startNchan(port);
  if (name === "tidings") return await startTidings({ port, isolates: 1, env: options.serverEnv });
  if (name === "tidings-parallel") {
    return await startTidings({ port, isolates: options.isolates, env: options.serverEnv });
  }
  if (name === "tidings-direct") {
    return await startTidings({ port, isolates: 1, direct: true, env: options.serverEnv });
  }
  if (name === "floor-serve") return await startFloor(port, "deno-serve");
  if (name === "floor-listen") return await startFloor(port, "listen");
  if (name === "floor-serve-parallel") {
    return await startFloor(port, "deno-serve-parallel", options.isolates);
  }
  throw new Error(
    `unknown target ${name}: use nchan, tidings, tidings-parallel, tidings-direct, floor-serve, floor-listen, floor-serve-parallel`,
  );
}

async function runScenario(rig: Rig, scenario: string, options: BenchOptions): Promise<Outcome> {
  const s = options.sizes;
  const live = (spec: Omit<LiveSpec, "name" | "paddingBytes" | "durationMs">, name: string) =>
    runLive(rig, {
      ...spec,
      name,
      paddingBytes: options.payloadBytes,
      durationMs: options.durationMs,
      connectConcurrency: options.connectConcurrency,
    });
  switch (scenario) {
    case "fanout":
      return await live({
        subscribers: s.fanoutSubscribers,
        topics: 1,
        rate: s.fanoutRate,
        publishers: 16,
      }, scenario);
    case "fanout-max":
      return await live(
        { subscribers: s.fanoutSubscribers, topics: 1, rate: 0, publishers: 4 },
        scenario,
      );
    case "burst":
      return await live({
        subscribers: s.burstSubscribers,
        topics: 1,
        rate: 0,
        publishers: s.burstPublishers,
      }, scenario);
    case "topics":
      return await live({
        subscribers: s.topicsSubscribers,
        topics: s.topics,
        rate: s.topicsRate,
        publishers: 16,
      }, scenario);
    case "idle":
      return await live(
        {
          subscribers: s.idleConnections,
          topics: 1,
          rate: 0,
          publishers: 1,
          idleSettleMs: s.idleSettleMs,
        },
        scenario,
      );
    case "durable":
      return await runDurable(rig, s.durablePublishers, s.durableDurationMs, s.durableTopics);
    case "catchup":
      return await runCatchUp(rig, s.catchupEvents, s.catchupRounds);
    case "storm":
      return await runStorm(rig, s.stormSubscribers, s.stormEvents, s.arrivalConcurrency);
    case "storm-restart":
      return await runStorm(rig, s.stormSubscribers, s.stormEvents, s.arrivalConcurrency, true);
    case "serial":
      return await live({
        subscribers: s.serialSubscribers,
        topics: 1,
        rate: 0,
        publishers: 1,
      }, scenario);
  }
  const arrival = /^arrival-(\d+)$/.exec(scenario);
  if (arrival) return await runArrival(rig, Number(arrival[1]), s.arrivalConcurrency);
  throw new Error(`unknown scenario ${scenario}`);
}

async function main(): Promise<number> {
  const options = parseOptions(Deno.args);
  const machine = await machineInfo();
  const started = new Date();
  console.error(
    `bench: ${options.smoke ? "smoke" : "full"} run; targets ${
      options.targets.join(", ")
    }; scenarios ${
      options.scenarios.join(", ")
    }; ${options.clientProcesses} subscriber processes + 1 publisher process`,
  );
  const pool = WorkerPool.spawn(options.clientProcesses);
  const publisher = LoadWorker.spawn();
  let outcomes: Outcome[] = [];
  let running: RunningTarget | undefined;
  let port = options.port;
  const watchdog = setTimeout(() => {
    console.error(`bench: giving up after ${options.maxMinutes} minutes`);
    running?.stop().finally(() => Deno.exit(3));
    setTimeout(() => Deno.exit(3), 15_000);
  }, options.maxMinutes * 60_000);
  try {
    // Each crowd size of the connection-rate scenario runs on a fresh server.
    const scenarios = options.scenarios.flatMap((scenario) =>
      scenario === "arrival" ? options.sizes.arrivalSizes.map((n) => `arrival-${n}`) : [scenario]
    );
    for (const scenario of scenarios) {
      for (let round = 1; round <= options.repeat; round++) {
        for (const targetName of options.targets) {
          if (scenario === "durable" && targetName === "nchan" && !options.nchanDurableReference) {
            continue;
          }
          // nchan keeps its messages in memory: it has nothing to resume from after a restart.
          if (scenario === "storm-restart" && targetName === "nchan") continue;
          // The floor servers have one topic and no log: single-topic live scenarios, idle
          // connections and arrivals only.
          if (
            targetName.startsWith("floor-") &&
            !["fanout", "fanout-max", "burst", "serial", "idle"].includes(scenario) &&
            !scenario.startsWith("arrival-")
          ) continue;
          const t0 = performance.now();
          running = await startTarget(targetName, options, port++);
          const rig: Rig = {
            target: running,
            subscribers: pool,
            publisher,
            tag: `b${Date.now().toString(36)}`,
          };
          try {
            const outcome = await runScenario(rig, scenario, options);
            outcome.round = round;
            outcomes.push(outcome);
            const trouble = outcome.failures.length
              ? ` — ${outcome.failures.length} FAILURE(S)`
              : "";
            console.error(
              `bench: ${scenario} × ${running.label} done in ${
                ((performance.now() - t0) / 1000).toFixed(1)
              } s${trouble}`,
            );
          } catch (error) {
            outcomes.push({
              round,
              scenario,
              target: running.label,
              metrics: [],
              notes: [],
              failures: [`scenario crashed: ${(error as Error).message}`],
            });
            console.error(`bench: ${scenario} × ${running.label} crashed:`, error);
          } finally {
            running = rig.target; // a restart may have replaced it
            // Server first: its sockets take the TIME_WAIT state, the client's ephemeral ports stay free.
            await running.stop();
            running = undefined;
            await pool.broadcast({ op: "close" }).catch(() => {});
          }
        }
      }
    }
  } finally {
    clearTimeout(watchdog);
    await pool.stop();
    await publisher.stop();
  }

  const rounds = outcomes;
  outcomes = mergeRounds(rounds);
  const checks = checkTargets(outcomes, options.smoke);
  const report = [
    `## Run of ${started.toISOString()}${options.smoke ? " (smoke sizes: not a measurement)" : ""}`,
    "",
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}; ` +
    `Deno ${Deno.version.deno}. Command: \`deno task bench ${Deno.args.join(" ")}\``,
    "",
    renderTables(
      outcomes,
      Object.fromEntries(
        outcomes.map((outcome) => [outcome.scenario, scenarioTitle(outcome.scenario)]),
      ),
    ),
    "### Targets",
    "",
    renderTargets(checks),
    "",
  ].join("\n");
  console.log(report);
  if (options.markdownPath) await Deno.writeTextFile(options.markdownPath, report);
  if (options.jsonPath) {
    await Deno.writeTextFile(
      options.jsonPath,
      JSON.stringify(
        { started: started.toISOString(), machine, args: Deno.args, outcomes, checks, rounds },
        null,
        2,
      ),
    );
  }
  const failures = outcomes.reduce((sum, o) => sum + o.failures.length, 0);
  if (failures > 0) console.error(`bench: ${failures} correctness failure(s), see the tables`);
  return failures > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
