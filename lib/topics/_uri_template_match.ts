/**
 * Matches strings against a URI template pattern, as made by `parseTemplate` in `./_uri_template.ts`.
 *
 * A pattern is compiled once into a small Thompson-style automaton, which is then run as a lazily
 * built deterministic automaton: each set of automaton states met while reading a topic becomes one
 * cached state with a transition per character class, so a topic is matched with one table lookup
 * per character, in time linear in its length whatever the template. At most
 * {@link MAX_CACHED_STATES} states are cached per template; past that the cache starts over, and a
 * character costs one step of the automaton, which a template's caps (variables and length, see
 * `./topic_selector.ts`) keep small. Nothing ever backtracks.
 *
 * @module
 */

import type { CharSet, PatternNode } from "./_uri_template.ts";

const hasChar = (set: CharSet, cp: number): boolean =>
  cp < 128 ? set.ascii[cp] === 1 : set.high && cp >= 0xa0;

// ---- The automaton: every state is followed at once. A thread carries a repetition count
// (prefixes) and an "an item was written" flag (ordered subsets with a separator between items).
// Of two threads in the same counted repetition, the one with the lower count (on the same side of
// the minimum) can do all the other can, so only it is kept.

interface Instruction {
  op: "code" | "char" | "split" | "jump" | "loop" | "step" | "mark" | "need" | "sep" | "match";
  a?: number;
  b?: number;
  cp?: number;
  set?: CharSet;
  min?: number;
  max?: number;
  /** Inside a counted repetition: its minimum (a thread with a lower count at or above it wins). */
  floor?: number;
}

function emit(node: PatternNode, program: Instruction[]): void {
  const at = () => program.length;
  switch (node.kind) {
    case "lit":
      for (const char of node.text) program.push({ op: "code", cp: char.codePointAt(0) });
      return;
    case "set":
      program.push({ op: "char", set: node.set });
      return;
    case "seq":
      for (const part of node.parts) emit(part, program);
      return;
    case "alt": {
      const jumps: Instruction[] = [];
      node.parts.forEach((part, index) => {
        const split: Instruction = { op: "split", a: at() + 1 };
        if (index < node.parts.length - 1) program.push(split);
        emit(part, program);
        if (index === node.parts.length - 1) return;
        jumps.push({ op: "jump" });
        program.push(jumps[jumps.length - 1]);
        split.b = at();
      });
      for (const jump of jumps) jump.a = at();
      return;
    }
    case "rep": {
      const { body, min, max } = node;
      if (max === Infinity) {
        for (let i = 0; i < min; i++) emit(body, program);
        const splitAt = at();
        const split: Instruction = { op: "split", a: splitAt + 1 };
        program.push(split);
        emit(body, program);
        program.push({ op: "jump", a: splitAt });
        split.b = at();
        return;
      }
      if (min === 0 && max === 1) {
        const split: Instruction = { op: "split", a: at() + 1 };
        program.push(split);
        emit(body, program);
        split.b = at();
        return;
      }
      const loopAt = at(); // only around one character unit: counted repetitions never nest
      const loop: Instruction = { op: "loop", min, max };
      program.push(loop);
      emit(body, program);
      program.push({ op: "step" }, { op: "jump", a: loopAt });
      loop.a = at();
      for (let i = loopAt; i < at(); i++) program[i].floor = min;
      return;
    }
    case "subset": {
      const sep = node.sep.codePointAt(0);
      for (const part of node.parts) {
        const split: Instruction = { op: "split", a: at() + 1 };
        program.push(split, { op: "sep", cp: sep });
        emit(part, program);
        program.push({ op: "mark" });
        split.b = at();
      }
      program.push({ op: "need" });
    }
  }
}

const SPAN = 10_000; // a count never exceeds 9,999, the largest prefix
const pack = (pc: number, flag: number, count: number) => (pc * 2 + flag) * SPAN + count;

/** Adds `start` and every state reachable from it without reading a character. */
function addThread(
  program: Instruction[],
  start: number,
  out: number[],
  seen: Map<number, number>,
): void {
  const stack = [start];
  while (stack.length > 0) {
    const key = stack.pop()!;
    const count = key % SPAN;
    const flag = ((key - count) / SPAN) % 2;
    const pc = ((key - count) / SPAN - flag) / 2;
    const { op, a, b, min, max, floor } = program[pc];
    const state = floor === undefined ? key : pack(pc, flag, Math.min(count, floor));
    if ((seen.get(state) ?? SPAN) <= count) continue; // a thread as good or better was here
    seen.set(state, count);
    if (op === "jump") stack.push(pack(a!, flag, count));
    else if (op === "split") stack.push(pack(a!, flag, count), pack(b!, flag, count));
    else if (op === "loop") {
      if (count < max!) stack.push(pack(pc + 1, flag, count));
      if (count >= min!) stack.push(pack(a!, flag, 0));
    } else if (op === "step") stack.push(pack(pc + 1, flag, count + 1));
    else if (op === "mark") stack.push(pack(pc + 1, 1, count));
    else if (op === "need") flag === 1 && stack.push(pack(pc + 1, 0, count));
    else if (op === "sep" && flag === 0) stack.push(pack(pc + 1, 0, count));
    else out.push(key);
  }
}

/** Deterministic states cached per template at most (each holds 128 ASCII transitions). */
export const MAX_CACHED_STATES = 128;

const UNKNOWN = 0;
const DEAD = -1;

/** One state of the lazily built deterministic automaton: a set of automaton threads. */
interface DfaState {
  /** Packed threads (see `pack`), sorted, at most one per collapsed state. */
  readonly threads: number[];
  readonly accepting: boolean;
  /** Next state per ASCII character: its index + 1, {@link UNKNOWN} or {@link DEAD}. */
  readonly ascii: Int16Array;
  /** Next state per non-ASCII character class (see `LazyDfa.classOf`), encoded the same way. */
  readonly other: Map<number, number>;
}

const countOf = (key: number) => key % SPAN;
const pcOf = (key: number) => {
  const rest = (key - (key % SPAN)) / SPAN;
  return (rest - (rest % 2)) / 2;
};

/** Runs a compiled program as a deterministic automaton built on demand. */
class LazyDfa {
  readonly #program: Instruction[];
  /** Non-ASCII code points the program names literally: each is its own character class. */
  readonly #literals: Set<number>;
  /** The start state's threads: the start state is always state 1 (index 0). */
  readonly #startThreads: number[];
  #states: DfaState[] = [];
  #index = new Map<string, number>();

  constructor(program: Instruction[]) {
    this.#program = program;
    this.#literals = new Set();
    for (const instruction of program) {
      if (instruction.op === "code" && instruction.cp! >= 128) this.#literals.add(instruction.cp!);
    }
    const threads: number[] = [];
    const seen = new Map<number, number>();
    addThread(this.#program, 0, threads, seen);
    this.#startThreads = this.#canonical(threads, seen);
    this.#intern(this.#startThreads);
  }

  /** Keeps, of each collapsed state, only the thread with the lowest count; sorts them. */
  #canonical(threads: number[], seen: Map<number, number>): number[] {
    const kept = threads.filter((key) => {
      const { floor } = this.#program[pcOf(key)];
      const count = countOf(key);
      const state = floor === undefined ? key : key - count + Math.min(count, floor);
      return seen.get(state) === count;
    });
    return kept.sort((x, y) => x - y);
  }

  /** The index + 1 of the state for `threads`, or {@link DEAD} for none. */
  #intern(threads: number[]): number {
    if (threads.length === 0) return DEAD;
    const name = threads.join(",");
    const known = this.#index.get(name);
    if (known !== undefined) return known;
    if (this.#states.length >= MAX_CACHED_STATES) {
      // Start over rather than grow (the start state first, again).
      this.#states = [];
      this.#index = new Map();
      if (threads !== this.#startThreads) this.#intern(this.#startThreads);
    }
    const accepting = threads.some((key) => this.#program[pcOf(key)].op === "match");
    this.#states.push({ threads, accepting, ascii: new Int16Array(128), other: new Map() });
    const id = this.#states.length;
    this.#index.set(name, id);
    return id;
  }

  /** Characters from U+0080 on: a literal of the template, U+00A0 and above, or U+0080-U+009F. */
  #classOf(cp: number): number {
    return this.#literals.has(cp) ? cp : cp >= 0xa0 ? -1 : -2;
  }

  /** The threads after reading `cp` from `threads`. */
  #step(threads: number[], cp: number): number[] {
    const next: number[] = [];
    const seen = new Map<number, number>();
    for (const key of threads) {
      const { op, set, cp: expected } = this.#program[pcOf(key)];
      if (op === "char" ? hasChar(set!, cp) : op !== "match" && expected === cp) {
        addThread(this.#program, key + 2 * SPAN, next, seen); // pc + 1, same flag and count
      }
    }
    return this.#canonical(next, seen);
  }

  matches(topic: string): boolean {
    let state = this.#states[0];
    for (let i = 0; i < topic.length;) {
      const cp = topic.codePointAt(i)!;
      i += cp > 0xffff ? 2 : 1;
      let next = cp < 128 ? state.ascii[cp] : state.other.get(this.#classOf(cp)) ?? UNKNOWN;
      if (next === UNKNOWN) {
        const generation = this.#states;
        next = this.#intern(this.#step(state.threads, cp));
        // After a start-over the old state is gone: its transition is not worth keeping.
        if (generation === this.#states) {
          if (cp < 128) state.ascii[cp] = next;
          else state.other.set(this.#classOf(cp), next);
        }
      }
      if (next === DEAD) return false;
      state = this.#states[next - 1];
    }
    return state.accepting;
  }
}

/**
 * Compiles a pattern into a function telling whether a string matches it as a whole, in time
 * linear in the string's length.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTemplate } from "./_uri_template.ts";
 * import { compileTemplateMatcher } from "./_uri_template_match.ts";
 * const matches = compileTemplateMatcher(parseTemplate("/books/{id}{?page,size}"));
 * assert.equal(matches("/books/1?size=10"), true);
 * assert.equal(matches("/books/1?page=2&size=10"), true);
 * assert.equal(matches("/books/1?size=10&page=2"), false);
 * assert.equal(matches("/books/1/reviews"), false);
 * ```
 */
export function compileTemplateMatcher(root: PatternNode): (topic: string) => boolean {
  const program: Instruction[] = [];
  emit(root, program);
  program.push({ op: "match" });
  const dfa = new LazyDfa(program);
  return (topic) => dfa.matches(topic);
}
