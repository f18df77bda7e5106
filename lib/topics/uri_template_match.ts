/**
 * Matches strings against a URI template pattern, as made by `parseTemplate` in `./uri_template.ts`.
 *
 * A pattern is compiled once. When it is deterministic (each choice is settled by the next
 * character, or only a fixed literal follows), it becomes an anchored `RegExp`, which then runs in
 * linear time. Otherwise it is matched by a small Thompson-style automaton, also linear in the
 * input length (times the template's size; a template holds at most 32 variables), so no
 * template can make matching backtrack catastrophically.
 *
 * @module
 */

import { type CharSet, charSet, type PatternNode, union } from "./uri_template.ts";

const NONE = charSet("");
const END = charSet("", false, true);

function overlaps(a: CharSet, b: CharSet): boolean {
  if ((a.high && b.high) || (a.end && b.end)) return true;
  for (let i = 0; i < 128; i++) if (a.ascii[i] & b.ascii[i]) return true;
  return false;
}

const hasChar = (set: CharSet, cp: number): boolean =>
  cp < 128 ? set.ascii[cp] === 1 : set.high && cp >= 0xa0;

// ---- Deterministic patterns become an anchored RegExp.

/** True when a backtracking engine settles each choice at once, or only a fixed literal follows. */
function isDeterministic(node: PatternNode, follow: CharSet, fixedTail: boolean): boolean {
  switch (node.kind) {
    case "lit":
    case "set":
      return true;
    case "seq": {
      for (let i = node.parts.length - 1; i >= 0; i--) {
        const part = node.parts[i];
        if (!isDeterministic(part, follow, fixedTail)) return false;
        follow = part.nullable ? union(part.first, follow) : part.first;
        fixedTail &&= part.fixed;
      }
      return true;
    }
    case "alt": {
      let seen = NONE;
      for (const part of node.parts) {
        if (overlaps(seen, part.first)) return false;
        seen = union(seen, part.first);
      }
      const nullables = node.parts.filter((part) => part.nullable).length;
      if (nullables > 1 || (nullables === 1 && overlaps(seen, follow))) return false;
      return node.parts.every((part) => isDeterministic(part, follow, fixedTail));
    }
    case "rep": {
      const { body } = node;
      if (body.nullable) return false;
      if (node.max > node.min && !fixedTail && overlaps(body.first, follow)) return false;
      if (node.max === 1) return isDeterministic(body, follow, fixedTail);
      return isDeterministic(body, union(body.first, follow), false);
    }
    default:
      return false;
  }
}

const hexEscape = (code: number) => `\\x${code.toString(16).padStart(2, "0")}`;

function regExpSource(node: PatternNode): string {
  switch (node.kind) {
    case "lit":
      return node.text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
    case "set": {
      let out = "";
      for (let i = 0; i < 128; i++) {
        if (!node.set.ascii[i] || node.set.ascii[i - 1]) continue;
        let last = i;
        while (node.set.ascii[last + 1]) last++;
        out += last === i ? hexEscape(i) : `${hexEscape(i)}-${hexEscape(last)}`;
      }
      return `[${out}${node.set.high ? "\\u{a0}-\\u{10ffff}" : ""}]`;
    }
    case "seq":
      return node.parts.map(regExpSource).join("");
    case "alt":
      return `(?:${node.parts.map(regExpSource).join("|")})`;
    case "rep": {
      const { min, max } = node;
      const count = max === Infinity
        ? (min === 0 ? "*" : min === 1 ? "+" : `{${min},}`)
        : (min === 0 && max === 1 ? "?" : `{${min},${max}}`);
      return `(?:${regExpSource(node.body)})${count}`;
    }
    default:
      throw new Error(`no RegExp form for ${node.kind}`);
  }
}

// ---- Other patterns run on a Thompson-style automaton: every state is followed at once, so time
// is linear in the topic. A thread carries a repetition count (prefixes) and an "an item was
// written" flag (ordered subsets with a separator between items). Of two threads in the same
// counted repetition, the one with the lower count (on the same side of the minimum) can do all
// the other can, so only it is kept: a state holds at most two threads.

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

function runProgram(program: Instruction[], topic: string): boolean {
  let threads: number[] = [];
  addThread(program, 0, threads, new Map());
  for (let i = 0; i < topic.length && threads.length > 0;) {
    const cp = topic.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    const next: number[] = [];
    const seen = new Map<number, number>();
    threads.sort((x, y) => (x % SPAN) - (y % SPAN)); // lower counts first: fewer states redone
    for (const key of threads) {
      const count = key % SPAN;
      const rest = (key - count) / SPAN;
      const pc = (rest - (rest % 2)) / 2;
      const { op, set, cp: expected } = program[pc];
      if (op === "char" ? hasChar(set!, cp) : op !== "match" && expected === cp) {
        addThread(program, key + 2 * SPAN, next, seen); // pc + 1, same flag and count
      }
    }
    threads = next;
  }
  return threads.some((key) => program[Math.floor(key / SPAN / 2)].op === "match");
}

/**
 * Compiles a pattern into a function telling whether a string matches it as a whole: an anchored
 * `RegExp` when the pattern is deterministic, a linear-time automaton otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTemplate } from "./uri_template.ts";
 * import { compileTemplateMatcher } from "./uri_template_match.ts";
 * const matches = compileTemplateMatcher(parseTemplate("/books/{id}{?page,size}"));
 * assert.equal(matches("/books/1?size=10"), true);
 * assert.equal(matches("/books/1?page=2&size=10"), true);
 * assert.equal(matches("/books/1?size=10&page=2"), false);
 * assert.equal(matches("/books/1/reviews"), false);
 * ```
 */
export function compileTemplateMatcher(root: PatternNode): (topic: string) => boolean {
  if (root.printable && isDeterministic(root, END, true)) {
    try {
      const pattern = new RegExp(`^(?:${regExpSource(root)})$`, "u");
      return (topic) => pattern.test(topic);
    } catch { /* too large for a RegExp: the automaton below has no such limit */ }
  }
  const program: Instruction[] = [];
  emit(root, program);
  program.push({ op: "match" });
  return (topic) => runProgram(program, topic);
}
