/**
 * Mercure topic selectors: `*` (every topic), an exact topic, or an RFC 6570 URI template (any
 * string holding a `{`) matched against topics.
 *
 * A template matches a topic when some assignment of values (strings, lists or associative arrays,
 * any of them undefined) expands to that topic. Expansions follow RFC 6570 section 3.2: simple and
 * label/path/path-style/query values hold unreserved characters and percent-encoded triplets, `+`
 * and `#` also hold reserved characters, a prefix `:n` allows at most `n` characters (a
 * percent-encoded UTF-8 sequence counting as one), `*` allows repeated separators and `key=value`
 * pairs. Two deliberate extensions: raw non-ASCII characters count as value characters (topics are
 * IRIs), and a template selector also matches the topic equal to its own text (as the Mercure
 * reference hub does).
 *
 * A template is compiled once. When its pattern is deterministic (each choice is settled by the next
 * character, or only a fixed literal follows), it becomes an anchored `RegExp`, which then runs in
 * linear time. Otherwise it is matched by a small Thompson-style automaton, also linear in the
 * topic length (times the template's size; a template holds at most 32 variables), so no
 * selector can make matching backtrack catastrophically.
 *
 * @module
 */

/**
 * Raised for a selector that is empty or not a well-formed URI template.
 *
 * @example
 * ```ts
 * import { compileSelector, InvalidSelectorError } from "./topic_selector.ts";
 * try {
 *   compileSelector("https://example.com/{id");
 * } catch (error) {
 *   console.assert(error instanceof InvalidSelectorError);
 *   console.assert((error as InvalidSelectorError).message === "unclosed '{' at 20");
 * }
 * ```
 */
export class InvalidSelectorError extends Error {
  /** The selector as given. */
  readonly selector: string;
  /**
   * @example
   * ```ts
   * import { InvalidSelectorError } from "./topic_selector.ts";
   * const error = new InvalidSelectorError("{}", "empty expression at 0");
   * console.assert(error.selector === "{}" && error.message === "empty expression at 0");
   * ```
   */
  constructor(selector: string, message: string) {
    super(message);
    this.name = "InvalidSelectorError";
    this.selector = selector;
  }
}

/**
 * A compiled topic selector.
 *
 * @example
 * ```ts
 * import { compileSelector } from "./topic_selector.ts";
 * const selector = compileSelector("https://example.com/books/{id}");
 * console.assert(selector.kind === "template" && selector.matches("https://example.com/books/1"));
 * ```
 */
export interface TopicSelector {
  /** The selector text as given. */
  readonly source: string;
  /** `any` for `*`, `exact` for a string with no `{`, `template` otherwise. */
  readonly kind: "any" | "exact" | "template";
  /**
   * Tells whether the topic matches.
   *
   * @example
   * ```ts
   * import { compileSelector } from "./topic_selector.ts";
   * console.assert(!compileSelector("https://example.com/a").matches("https://example.com/A"));
   * ```
   */
  matches(topic: string): boolean;
}

// ---- Character sets: 128 ASCII flags, plus "any character from U+00A0 on" and "end of topic".

interface CharSet {
  readonly ascii: Uint8Array;
  readonly high: boolean;
  readonly end: boolean;
}

function charSet(chars: string, high = false, end = false): CharSet {
  const ascii = new Uint8Array(128);
  for (const char of chars) ascii[char.charCodeAt(0)] = 1;
  return { ascii, high, end };
}

function union(a: CharSet, b: CharSet): CharSet {
  const ascii = new Uint8Array(128);
  for (let i = 0; i < 128; i++) ascii[i] = a.ascii[i] | b.ascii[i];
  return { ascii, high: a.high || b.high, end: a.end || b.end };
}

function overlaps(a: CharSet, b: CharSet): boolean {
  if ((a.high && b.high) || (a.end && b.end)) return true;
  for (let i = 0; i < 128; i++) if (a.ascii[i] & b.ascii[i]) return true;
  return false;
}

const hasChar = (set: CharSet, cp: number): boolean =>
  cp < 128 ? set.ascii[cp] === 1 : set.high && cp >= 0xa0;

const NONE = charSet("");
const END = charSet("", false, true);
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UNRESERVED = ALNUM + "-._~";
const RESERVED = ":/?#[]@!$&'()*+,;=";
const HEX = "0123456789ABCDEFabcdef";

// ---- Pattern nodes, with what the determinism check needs computed on construction.

type Node =
  & { nullable: boolean; first: CharSet; fixed: boolean; printable: boolean }
  & (
    | { kind: "lit"; text: string }
    | { kind: "set"; set: CharSet }
    | { kind: "seq" | "alt"; parts: Node[] }
    | { kind: "rep"; body: Node; min: number; max: number }
    | { kind: "subset"; parts: Node[]; sep: string } // a non-empty ordered subsequence, sep-joined
  );

function lit(text: string): Node {
  const code = text.charCodeAt(0);
  const first = text === "" ? NONE : code < 128 ? charSet(text[0]) : charSet("", true);
  return { kind: "lit", text, nullable: text === "", first, fixed: true, printable: true };
}

function set(chars: string, high = false): Node {
  const cs = charSet(chars, high);
  return { kind: "set", set: cs, nullable: false, first: cs, fixed: true, printable: true };
}

function seq(...parts: Node[]): Node {
  let first = NONE;
  let nullable = true;
  for (const part of parts) {
    if (nullable) first = union(first, part.first);
    nullable &&= part.nullable;
  }
  const fixed = parts.every((part) => part.fixed);
  return { kind: "seq", parts, nullable, first, fixed, printable: parts.every((p) => p.printable) };
}

function alt(...parts: Node[]): Node {
  const first = parts.reduce((acc, part) => union(acc, part.first), NONE);
  const printable = parts.every((part) => part.printable);
  return {
    kind: "alt",
    parts,
    nullable: parts.some((p) => p.nullable),
    first,
    fixed: false,
    printable,
  };
}

function rep(body: Node, min: number, max: number): Node {
  const nullable = min === 0 || body.nullable;
  return {
    kind: "rep",
    body,
    min,
    max,
    nullable,
    first: body.first,
    fixed: false,
    printable: body.printable,
  };
}

function subset(parts: Node[], sep: string): Node {
  const first = parts.reduce((acc, part) => union(acc, part.first), charSet(sep));
  const nullable = parts.some((part) => part.nullable);
  return { kind: "subset", parts, sep, nullable, first, fixed: false, printable: false };
}

const optional = (body: Node): Node => rep(body, 0, 1);
const hexDigit = set(HEX);
const continuation = seq(lit("%"), set("89ABab"), hexDigit);
const anyTriplet = seq(lit("%"), hexDigit, hexDigit);

/** Zero or more (or one or more) value characters or percent-encoded triplets. */
const run = (chars: string, min: number): Node =>
  rep(alt(set(chars, true), anyTriplet), min, Infinity);

/** One value character: allowed as is, or percent-encoded as one UTF-8 sequence. */
const unit = (chars: string): Node =>
  alt(
    set(chars, true),
    seq(
      lit("%"),
      alt(
        seq(set("01234567"), hexDigit),
        seq(set("CDcd"), hexDigit, continuation),
        seq(set("Ee"), hexDigit, continuation, continuation),
        seq(set("Ff"), set("01234567"), continuation, continuation, continuation),
      ),
    ),
  );

// ---- Parsing: RFC 6570 section 2, each expression turned into the strings its expansions can be.

interface Operator {
  first: string;
  sep: string;
  named: boolean;
  chars: string;
}

const OPERATORS: Record<string, Operator> = {
  "": { first: "", sep: ",", named: false, chars: UNRESERVED },
  "+": { first: "", sep: ",", named: false, chars: UNRESERVED + RESERVED },
  "#": { first: "#", sep: ",", named: false, chars: UNRESERVED + RESERVED },
  ".": { first: ".", sep: ".", named: false, chars: UNRESERVED },
  "/": { first: "/", sep: "/", named: false, chars: UNRESERVED },
  ";": { first: ";", sep: ";", named: true, chars: UNRESERVED },
  "?": { first: "?", sep: "&", named: true, chars: UNRESERVED },
  "&": { first: "&", sep: "&", named: true, chars: UNRESERVED },
};
const VARNAME = /^(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*/;
const MAX_LENGTH = /^[1-9][0-9]{0,3}$/;
/** Bounds the work per match of a non-deterministic template (time grows with its variables). */
const MAX_VARIABLES = 32;

interface VarSpec {
  name: string;
  prefix?: number;
  explode: boolean;
}

function parseTemplate(source: string): Node {
  const parts: Node[] = [];
  let literalStart = 0;
  let variables = 0;
  for (let i = 0; i < source.length; i++) {
    if (source[i] === "}") throw new InvalidSelectorError(source, `unmatched '}' at ${i}`);
    if (source[i] !== "{") continue;
    if (i > literalStart) parts.push(lit(source.slice(literalStart, i)));
    const close = source.indexOf("}", i + 1);
    const nested = source.indexOf("{", i + 1);
    if (close === -1 || (nested !== -1 && nested < close)) {
      throw new InvalidSelectorError(source, `unclosed '{' at ${i}`);
    }
    const expression = parseExpression(source, i, close);
    variables += expression.variables;
    parts.push(expression.pattern);
    i = close;
    literalStart = close + 1;
  }
  if (literalStart < source.length) parts.push(lit(source.slice(literalStart)));
  if (variables > MAX_VARIABLES) {
    throw new InvalidSelectorError(
      source,
      `too many variables: ${variables} (at most ${MAX_VARIABLES})`,
    );
  }
  return seq(...parts);
}

function parseExpression(
  source: string,
  open: number,
  close: number,
): { pattern: Node; variables: number } {
  const fail = (message: string): never => {
    throw new InvalidSelectorError(source, message);
  };
  if (close === open + 1) fail(`empty expression at ${open}`);
  let start = open + 1;
  const char = source[start];
  if ("=,!@|".includes(char)) fail(`reserved operator '${char}' at ${start}`);
  const hasOperator = Object.hasOwn(OPERATORS, char);
  const operator = OPERATORS[hasOperator ? char : ""];
  if (hasOperator) start++;
  if (start === close) fail(`missing variable name after operator '${char}' at ${open}`);
  const specs: VarSpec[] = [];
  for (const text of source.slice(start, close).split(",")) {
    if (text === "") fail(`empty variable name at ${start}`);
    const name = VARNAME.exec(text)?.[0] ?? fail(`invalid variable name '${text}' at ${start}`);
    const modifier = text.slice(name.length);
    const spec: VarSpec = { name, explode: modifier === "*" };
    if ((modifier.startsWith(":") && modifier.endsWith("*")) || modifier.startsWith("*:")) {
      fail(`prefix and explode modifiers together at ${start}`);
    } else if (modifier.startsWith(":")) {
      if (!MAX_LENGTH.test(modifier.slice(1))) {
        fail(`invalid prefix length '${modifier}' at ${start}: must be 1 to 9999`);
      }
      spec.prefix = Number(modifier.slice(1));
    } else if (modifier !== "" && modifier !== "*") {
      fail(`invalid variable name '${text}' at ${start}`);
    }
    specs.push(spec);
    start += text.length + 1;
  }
  return { pattern: expressionPattern(operator, specs), variables: specs.length };
}

function expressionPattern(op: Operator, specs: VarSpec[]): Node {
  const items = specs.map((spec) => op.named ? namedItem(op, spec) : unnamedItem(op, spec));
  if (items.length === 1) {
    return op.first === "" ? items[0] : optional(seq(lit(op.first), items[0]));
  }
  if (op.first === op.sep) return seq(...items.map((item) => optional(seq(lit(op.sep), item))));
  return optional(seq(lit(op.first), subset(items, op.sep)));
}

/** What one defined variable expands to (without the operator's leading character or separator). */
function unnamedItem(op: Operator, spec: VarSpec): Node {
  if (spec.prefix !== undefined) return rep(unit(op.chars), 0, spec.prefix);
  return run(op.chars + (spec.explode ? op.sep + "=" : ","), 0);
}

function namedItem(op: Operator, spec: VarSpec): Node {
  const bareWhenEmpty = op.first === ";";
  const pair = (name: Node, value: Node) =>
    bareWhenEmpty ? seq(name, optional(seq(lit("="), value))) : seq(name, lit("="), value);
  const min = bareWhenEmpty ? 1 : 0;
  if (spec.explode) {
    const keyValue = pair(run(op.chars, 1), run(op.chars, min));
    return seq(keyValue, rep(seq(lit(op.sep), keyValue), 0, Infinity));
  }
  const value = spec.prefix === undefined
    ? run(op.chars + ",", min)
    : rep(unit(op.chars), min, spec.prefix);
  return pair(lit(spec.name), value);
}

// ---- Deterministic patterns become an anchored RegExp.

/** True when a backtracking engine settles each choice at once, or only a fixed literal follows. */
function isDeterministic(node: Node, follow: CharSet, fixedTail: boolean): boolean {
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

function regExpSource(node: Node): string {
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

function emit(node: Node, program: Instruction[]): void {
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

function templateMatcher(root: Node): (topic: string) => boolean {
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

// ---- Public API.

class CompiledSelector implements TopicSelector {
  readonly source: string;
  readonly kind: "any" | "exact" | "template";
  readonly matches: (topic: string) => boolean;
  constructor(source: string, kind: TopicSelector["kind"], matches: (topic: string) => boolean) {
    this.source = source;
    this.kind = kind;
    this.matches = matches;
  }
}

/**
 * Compiles a selector: `*`, an exact topic (no `{`), or an RFC 6570 URI template.
 *
 * @throws {InvalidSelectorError} for an empty selector or a malformed template: unbalanced braces,
 * an empty expression, a bad variable name, a reserved operator (`=`, `,`, `!`, `@`, `|`), a prefix
 * length outside 1 to 9999, prefix and explode together, or more than 32 variables.
 *
 * @example
 * ```ts
 * import { compileSelector } from "./topic_selector.ts";
 * const books = compileSelector("https://example.com/books/{id}");
 * console.assert(books.matches("https://example.com/books/1"));
 * console.assert(!books.matches("https://example.com/books/1/reviews"));
 * console.assert(compileSelector("*").kind === "any");
 * ```
 */
export function compileSelector(source: string): TopicSelector {
  if (source === "") throw new InvalidSelectorError(source, "empty selector");
  if (source === "*") return new CompiledSelector(source, "any", () => true);
  if (!source.includes("{")) {
    return new CompiledSelector(source, "exact", (topic) => topic === source);
  }
  const matcher = templateMatcher(parseTemplate(source));
  // The hub asks every subscriber about the same topic in turn: remember the last answer.
  let lastTopic: string | undefined;
  let lastAnswer = false;
  return new CompiledSelector(source, "template", (topic) => {
    if (topic !== lastTopic) {
      lastAnswer = topic === source || matcher(topic);
      lastTopic = topic;
    }
    return lastAnswer;
  });
}

const CACHE_LIMIT = 1000;
const cache = new Map<string, TopicSelector | InvalidSelectorError>();

/** Compiles through a least-recently-used cache of at most 1,000 selectors (failures included). */
function cachedCompile(source: string): TopicSelector | InvalidSelectorError {
  let entry = cache.get(source);
  if (entry !== undefined) {
    cache.delete(source);
  } else {
    try {
      entry = compileSelector(source);
    } catch (error) {
      if (!(error instanceof InvalidSelectorError)) throw error;
      entry = error;
    }
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  }
  cache.set(source, entry);
  return entry;
}

/**
 * Tells whether `topic` matches `selector`, compiling through a bounded cache (the most recently
 * used 1,000 selectors). An invalid selector matches nothing.
 *
 * @example
 * ```ts
 * import { matchesSelector } from "./topic_selector.ts";
 * console.assert(matchesSelector("https://example.com/users/{id}", "https://example.com/users/7"));
 * console.assert(!matchesSelector("https://example.com/{id", "https://example.com/{id"));
 * ```
 */
export function matchesSelector(selector: string, topic: string): boolean {
  const compiled = cachedCompile(selector);
  return !(compiled instanceof InvalidSelectorError) && compiled.matches(topic);
}

/**
 * A subscriber's selectors, with exact topics kept apart so a broker can index them.
 *
 * @example
 * ```ts
 * import { SelectorSet } from "./topic_selector.ts";
 * const selectors = new SelectorSet(["https://example.com/a", "https://example.com/b/{id}"]);
 * console.assert(selectors.exactTopics.has("https://example.com/a"));
 * console.assert(selectors.patterns.length === 1 && selectors.matches("https://example.com/b/2"));
 * ```
 */
export class SelectorSet {
  /** The exact topics among the selectors. */
  readonly exactTopics: ReadonlySet<string>;
  /** The `*` and template selectors, each once. */
  readonly patterns: readonly TopicSelector[];
  /** True when one of the selectors is `*`. */
  readonly matchesEverything: boolean;

  /**
   * Compiles every selector (sharing the cache of {@linkcode matchesSelector}).
   *
   * @throws {InvalidSelectorError} for the first invalid selector.
   *
   * @example
   * ```ts
   * import { InvalidSelectorError, SelectorSet } from "./topic_selector.ts";
   * console.assert(new SelectorSet(["*"]).matchesEverything);
   * try {
   *   new SelectorSet(["ok", "{bad"]);
   * } catch (error) {
   *   console.assert(error instanceof InvalidSelectorError);
   * }
   * ```
   */
  constructor(selectors: string[]) {
    const exact = new Set<string>();
    const patterns = new Map<string, TopicSelector>();
    for (const source of selectors) {
      const compiled = cachedCompile(source);
      if (compiled instanceof InvalidSelectorError) {
        throw new InvalidSelectorError(source, compiled.message);
      }
      if (compiled.kind === "exact") exact.add(source);
      else patterns.set(source, compiled);
    }
    this.exactTopics = exact;
    this.patterns = [...patterns.values()];
    this.matchesEverything = patterns.has("*");
  }

  /**
   * Tells whether the topic matches any of the selectors.
   *
   * @example
   * ```ts
   * import { SelectorSet } from "./topic_selector.ts";
   * const selectors = new SelectorSet(["https://example.com/a", "https://example.com/b/{id}"]);
   * console.assert(selectors.matches("https://example.com/a"));
   * console.assert(!selectors.matches("https://example.com/c"));
   * ```
   */
  matches(topic: string): boolean {
    if (this.matchesEverything || this.exactTopics.has(topic)) return true;
    for (const pattern of this.patterns) if (pattern.matches(topic)) return true;
    return false;
  }
}
