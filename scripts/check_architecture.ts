/**
 * `deno task check` runs this: the architecture stays as the tree shows it.
 *
 * - No import cycles between the project's modules (type-only imports count: a cycle of types is
 *   still two files that cannot be understood apart).
 * - `lib/` never imports `routes/` or `main.ts`; `client/` (browser code) imports only `client/`.
 * - The folders of `lib/` stack in floors: a folder imports only folders on floors below it (see
 *   {@link FLOORS}), so `util/` depends on nothing and `app/` may use everything.
 * - Storage is reached through the transport seam (`lib/hub/transport.ts`): `Deno.openKv` and
 *   the `Deno.Kv` type appear only in `lib/kv/`, the engine that implements it; tests and
 *   benchmarks are exempt. Likewise `Deno.connect` / `Deno.connectTls` appear only in `lib/redis/`
 *   (the Redis engine's client). Outside `lib/hub/`, code uses the hub's methods, never its parts
 *   (`hub.log`, `hub.broker`, `hub.fanout`, `hub.transport`).
 * - A folder with a `mod.ts` (hub, topics, sse, http1) is entered through it: production code
 *   outside the folder imports only its `mod.ts`, and `_`-prefixed modules are the folder's own
 *   (tests may reach in).
 * - JSDoc `@example`s assert with `node:assert/strict`: the console's own assert only prints.
 *
 * Prints every violation with its file and exits 1 if there is any.
 *
 * @module
 */

import { dirname, join, normalize, relative } from "node:path";

/**
 * The floors of `lib/`: a folder may import its own floor's folders only where listed as peers,
 * and any folder on a lower floor. Read bottom-up: util is the ground.
 */
export const FLOORS: readonly (readonly string[])[] = [
  ["util"],
  ["topics", "auth", "sse", "http1"],
  ["hub"],
  ["kv", "redis"],
  ["feeds"],
  ["app"],
];

/** Same-floor imports that are allowed (from → to). */
const PEERS = new Set<string>(["sse→http1"]);

const SOURCE = /\.(ts|js)$/;

/** A project file's import of another project file. */
export interface ImportEdge {
  from: string;
  to: string;
}

/**
 * The relative specifiers a module imports (statically, dynamically with a literal, or re-exports),
 * outside comments.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { importSpecifiers } from "./check_architecture.ts";
 * const source = `import { a } from "./a.ts";\n/** import { b } from "./b.ts"; *\/\nexport * from "../c.ts";`;
 * assert.deepEqual(importSpecifiers(source), ["./a.ts", "../c.ts"]);
 * ```
 */
export function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found: string[] = [];
  const patterns = [
    /(?:^|[;\s])(?:import|export)\s[^;]*?\sfrom\s*["'](\.{1,2}\/[^"']+)["']/g,
    /(?:^|[;\s])import\s*["'](\.{1,2}\/[^"']+)["']/g,
    /import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) found.push(match[1]);
  }
  return found;
}

/**
 * The cycles of a directed graph (Tarjan's strongly connected components of more than one node,
 * or a node importing itself).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cycles } from "./check_architecture.ts";
 * const graph = new Map([["a", ["b"]], ["b", ["a"]], ["c", ["a"]]]);
 * assert.deepEqual(cycles(graph), [["a", "b"]]);
 * ```
 */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) {
        found.push(component.sort());
      }
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return found;
}

/** What an example must not call (spelled in parts, so this file does not hold it). */
const CONSOLE_ASSERT = ["console", "assert"].join(".");

/**
 * The `@example` blocks of a source file that use the console's assert (which only prints, so
 * such an example cannot fail), by line number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { examplesUsingConsoleAssert } from "./check_architecture.ts";
 * const fence = "`".repeat(3);
 * const bad = ["/**", " * @example", ` * ${fence}ts`, " * console" + ".assert(1 === 2);", ` * ${fence}`, " *\/"];
 * assert.deepEqual(examplesUsingConsoleAssert(bad.join("\n")), [2]);
 * ```
 */
export function examplesUsingConsoleAssert(source: string): number[] {
  const lines: number[] = [];
  for (const block of source.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const text = block[0];
    // The fenced code of each @example in the comment.
    for (const example of text.matchAll(/@example[\s\S]*?```[a-z]*\n([\s\S]*?)```/g)) {
      if (!example[1].includes(CONSOLE_ASSERT)) continue;
      lines.push(source.slice(0, block.index! + example.index!).split("\n").length);
    }
  }
  return lines;
}

function floorOf(folder: string): number {
  return FLOORS.findIndex((floor) => floor.includes(folder));
}

/** Why an import from one `lib/` folder to another breaks the floors, or `undefined`. */
function layerViolation(from: string, to: string): string | undefined {
  const [, fromFolder] = from.split("/");
  const [, toFolder] = to.split("/");
  if (fromFolder === toFolder) return undefined;
  const fromFloor = floorOf(fromFolder);
  const toFloor = floorOf(toFolder);
  if (fromFloor < 0) return `lib/${fromFolder}/ is on no floor (add it to FLOORS)`;
  if (toFloor < 0) return `lib/${toFolder}/ is on no floor (add it to FLOORS)`;
  if (toFloor < fromFloor) return undefined;
  if (toFloor === fromFloor && PEERS.has(`${fromFolder}→${toFolder}`)) return undefined;
  return `lib/${fromFolder}/ (floor ${fromFloor}) may not import lib/${toFolder}/ (floor ${toFloor})`;
}

async function listSources(root: string, folder: string, into: string[]): Promise<void> {
  for await (const entry of Deno.readDir(join(root, folder))) {
    const path = folder ? `${folder}/${entry.name}` : entry.name;
    if (entry.isDirectory) {
      if (!["data", "node_modules", ".git", "results"].includes(entry.name)) {
        await listSources(root, path, into);
      }
    } else if (SOURCE.test(entry.name)) {
      into.push(path);
    }
  }
}

/** Every violation in the tree at `root`, one line each. */
export async function checkArchitecture(root: string): Promise<string[]> {
  const files: string[] = [];
  await listSources(root, "", files);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  const problems: string[] = [];
  for (const file of files.sort()) {
    const source = await Deno.readTextFile(join(root, file));
    const targets: string[] = [];
    for (const specifier of importSpecifiers(source)) {
      const target = normalize(join(dirname(file), specifier));
      if (!known.has(target)) continue;
      targets.push(target);
      if (file.startsWith("lib/") && (target.startsWith("routes/") || target === "main.ts")) {
        problems.push(`${file}: lib/ imports ${target}`);
      }
      if (file.startsWith("client/") && !target.startsWith("client/")) {
        problems.push(`${file}: browser code imports ${target}`);
      }
      if (file.startsWith("lib/") && target.startsWith("lib/")) {
        const why = layerViolation(file, target);
        if (why) problems.push(`${file} → ${target}: ${why}`);
      }
      const targetFolder = dirname(target);
      if (
        dirname(file) !== targetFolder && known.has(`${targetFolder}/mod.ts`) &&
        !target.endsWith("/mod.ts") && !file.startsWith("tests/") && !file.startsWith("bench/")
      ) {
        problems.push(`${file}: imports ${target} instead of ${targetFolder}/mod.ts`);
      }
    }
    graph.set(file, targets);
    const production = !file.startsWith("tests/") && !file.startsWith("bench/") &&
      !file.endsWith("_test.ts");
    const code = source.replace(/\/\*[\s\S]*?\*\//g, "");
    if (
      production && !file.startsWith("lib/kv/") && file !== "scripts/check_architecture.ts" &&
      /Deno\.(openKv\(|Kv\b)/.test(code)
    ) {
      problems.push(`${file}: uses Deno KV outside lib/kv/ (go through the transport)`);
    }
    if (
      production && !file.startsWith("lib/redis/") && file !== "scripts/check_architecture.ts" &&
      /Deno\.connect(Tls)?\(/.test(code)
    ) {
      problems.push(`${file}: opens network connections outside lib/redis/`);
    }
    if (
      production && !file.startsWith("lib/hub/") && file !== "scripts/check_architecture.ts" &&
      /\bhub\.(kv|log|broker|fanout|transport)\b/.test(code)
    ) {
      problems.push(`${file}: reaches into the hub's parts (use the hub's methods)`);
    }
    for (const line of examplesUsingConsoleAssert(source)) {
      problems.push(`${file}:${line}: an @example uses ${CONSOLE_ASSERT} (use node:assert/strict)`);
    }
  }
  for (const cycle of cycles(graph)) problems.push(`import cycle: ${cycle.join(" ↔ ")}`);
  return problems;
}

if (import.meta.main) {
  const root = relative(Deno.cwd(), new URL("..", import.meta.url).pathname) || ".";
  const problems = await checkArchitecture(root);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(`check_architecture: ${problems.length} problem(s)`);
    Deno.exit(1);
  }
  console.log("check_architecture: no cycles, lib/ floors hold, examples assert");
}
