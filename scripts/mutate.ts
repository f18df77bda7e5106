/**
 * `deno task mutate`: proof that the test suite catches real bugs. Each mutation in
 * `scripts/mutations.ts` plants one deliberate bug (an exact text replacement in one file) in a
 * temporary copy of the tree, runs the tests that should catch it, and records whether they did.
 * Every mutation must be killed: a survivor is a promise the suite does not check.
 *
 * ```sh
 * deno task mutate                  # every mutation
 * deno task mutate --only jwt-exp   # mutations whose name contains "jwt-exp"
 * deno task mutate --smoke          # the first mutation of each area (CI)
 * ```
 *
 * Exits 1 if a mutation survived or no longer applies (its text is not found exactly once).
 *
 * @module
 */

import { dirname, join } from "node:path";
import { type Mutation, MUTATIONS } from "./mutations.ts";

/** The outcome of one mutation. */
export interface MutationResult {
  name: string;
  outcome: "killed" | "survived" | "stale";
  seconds: number;
  detail?: string;
}

/**
 * Applies a mutation to a source text: the text with its one occurrence of `find` replaced, or an
 * error naming how often `find` occurs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyMutation } from "./mutate.ts";
 * assert.equal(applyMutation("a < b", { find: "<", replace: "<=" }), "a <= b");
 * assert.throws(() => applyMutation("a < b < c", { find: "<", replace: "<=" }), /2 times/);
 * ```
 */
export function applyMutation(
  source: string,
  mutation: Pick<Mutation, "find" | "replace">,
): string {
  const count = source.split(mutation.find).length - 1;
  if (count !== 1) throw new Error(`the text to mutate occurs ${count} times, not once`);
  return source.replace(mutation.find, () => mutation.replace);
}

const root = new URL("..", import.meta.url).pathname;

async function copyTree(into: string): Promise<void> {
  const listed = await new Deno.Command("git", {
    args: ["ls-files", "-co", "--exclude-standard"],
    cwd: root,
    stdout: "piped",
  })
    .output();
  const files = new TextDecoder().decode(listed.stdout).trim().split("\n").filter(Boolean);
  for (const file of files) {
    if (file.startsWith("bench/results/")) continue;
    await Deno.mkdir(join(into, dirname(file)), { recursive: true });
    try {
      await Deno.copyFile(join(root, file), join(into, file));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

async function runTests(
  tree: string,
  tests: readonly string[],
  timeoutMs: number,
): Promise<{ passed: boolean; output: string; timedOut: boolean }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--fail-fast", ...tests],
    cwd: tree,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, timeoutMs);
  const { success, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  return { passed: success, output, timedOut };
}

/** Runs the mutations against a fresh copy of the tree; one result each, in order. */
export async function runMutations(
  mutations: readonly Mutation[],
  options: { timeoutMs?: number; log?: (line: string) => void } = {},
): Promise<MutationResult[]> {
  const log = options.log ?? ((line: string) => console.log(line));
  const tree = await Deno.makeTempDir({ prefix: "tidings-mutate-" });
  const results: MutationResult[] = [];
  try {
    await copyTree(tree);
    for (const mutation of mutations) {
      const started = performance.now();
      const path = join(tree, mutation.file);
      const original = await Deno.readTextFile(path);
      let mutated: string;
      try {
        mutated = applyMutation(original, mutation);
      } catch (error) {
        results.push({ name: mutation.name, outcome: "stale", seconds: 0, detail: String(error) });
        log(`STALE     ${mutation.name}: ${(error as Error).message} in ${mutation.file}`);
        continue;
      }
      await Deno.writeTextFile(path, mutated);
      try {
        const run = await runTests(tree, mutation.tests, options.timeoutMs ?? 240_000);
        const seconds = Math.round((performance.now() - started) / 100) / 10;
        const outcome = run.passed ? "survived" : "killed";
        const failed = run.output.match(/^(.*) \.\.\. FAILED/m)?.[1];
        const detail = run.timedOut ? "timed out" : failed ? `caught by: ${failed}` : undefined;
        results.push({ name: mutation.name, outcome, seconds, detail });
        log(
          `${outcome === "killed" ? "KILLED  " : "SURVIVED"}  ${mutation.name} (${seconds} s)${
            detail ? ` — ${detail}` : ""
          }`,
        );
      } finally {
        await Deno.writeTextFile(path, original);
      }
    }
  } finally {
    await Deno.remove(tree, { recursive: true }).catch(() => {});
  }
  return results;
}

if (import.meta.main) {
  const only = Deno.args.includes("--only")
    ? Deno.args[Deno.args.indexOf("--only") + 1]
    : undefined;
  const smoke = Deno.args.includes("--smoke");
  let chosen = MUTATIONS.filter((mutation) => !only || mutation.name.includes(only));
  if (smoke) {
    const seen = new Set<string>();
    chosen = chosen.filter((mutation) => {
      const area = mutation.name.split("-")[0];
      if (seen.has(area)) return false;
      seen.add(area);
      return true;
    });
  }
  console.log(`mutate: ${chosen.length} mutation(s)`);
  const results = await runMutations(chosen);
  const killed = results.filter((result) => result.outcome === "killed").length;
  const bad = results.filter((result) => result.outcome !== "killed");
  console.log(`mutate: ${killed} of ${results.length} killed`);
  for (const result of bad) console.log(`  ${result.outcome}: ${result.name}`);
  if (bad.length > 0) Deno.exit(1);
}
