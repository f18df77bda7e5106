/**
 * Parses RFC 6570 URI templates into a pattern of every string the template can expand to.
 *
 * A template expands to a string when some assignment of values (strings, lists or associative
 * arrays, any of them undefined) produces it. Expansions follow RFC 6570 section 3.2: simple and
 * label/path/path-style/query values hold unreserved characters and percent-encoded triplets, `+`
 * and `#` also hold reserved characters, a prefix `:n` allows at most `n` characters (a
 * percent-encoded UTF-8 sequence counting as one), `*` allows repeated separators and `key=value`
 * pairs. One deliberate extension: raw non-ASCII characters count as value characters (topics are
 * IRIs). Each pattern node carries what a matcher needs to tell whether it is deterministic.
 *
 * @module
 */

// ---- Character sets: 128 ASCII flags, plus "any character from U+00A0 on" and "end of topic".

/**
 * A set of characters: ASCII ones flagged one by one, every character from U+00A0 on (`high`),
 * and the end of the input (`end`).
 */
export interface CharSet {
  readonly ascii: Uint8Array;
  readonly high: boolean;
  readonly end: boolean;
}

/**
 * Builds the set of the given ASCII characters, plus optionally all from U+00A0 on and the end.
 */
export function charSet(chars: string, high = false, end = false): CharSet {
  const ascii = new Uint8Array(128);
  for (const char of chars) ascii[char.charCodeAt(0)] = 1;
  return { ascii, high, end };
}

/**
 * The set of characters in `a` or in `b`.
 */
export function union(a: CharSet, b: CharSet): CharSet {
  const ascii = new Uint8Array(128);
  for (let i = 0; i < 128; i++) ascii[i] = a.ascii[i] | b.ascii[i];
  return { ascii, high: a.high || b.high, end: a.end || b.end };
}

const NONE = charSet("");
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UNRESERVED = ALNUM + "-._~";
const RESERVED = ":/?#[]@!$&'()*+,;=";
const HEX = "0123456789ABCDEFabcdef";

// ---- Pattern nodes, with what the determinism check needs computed on construction.

/**
 * A pattern: a literal, a character set, a sequence, an alternative, a repetition, or a non-empty
 * ordered subsequence of parts joined by `sep`. `nullable` (matches the empty string), `first`
 * (the characters a match can start with), `fixed` (has a single match) and `printable` (has a
 * RegExp form) are computed on construction.
 */
export type PatternNode =
  & { nullable: boolean; first: CharSet; fixed: boolean; printable: boolean }
  & (
    | { kind: "lit"; text: string }
    | { kind: "set"; set: CharSet }
    | { kind: "seq" | "alt"; parts: PatternNode[] }
    | { kind: "rep"; body: PatternNode; min: number; max: number }
    | { kind: "subset"; parts: PatternNode[]; sep: string } // a non-empty ordered subsequence
  );

function lit(text: string): PatternNode {
  const code = text.charCodeAt(0);
  const first = text === "" ? NONE : code < 128 ? charSet(text[0]) : charSet("", true);
  return { kind: "lit", text, nullable: text === "", first, fixed: true, printable: true };
}

function set(chars: string, high = false): PatternNode {
  const cs = charSet(chars, high);
  return { kind: "set", set: cs, nullable: false, first: cs, fixed: true, printable: true };
}

function seq(...parts: PatternNode[]): PatternNode {
  let first = NONE;
  let nullable = true;
  for (const part of parts) {
    if (nullable) first = union(first, part.first);
    nullable &&= part.nullable;
  }
  const fixed = parts.every((part) => part.fixed);
  return { kind: "seq", parts, nullable, first, fixed, printable: parts.every((p) => p.printable) };
}

function alt(...parts: PatternNode[]): PatternNode {
  const first = parts.reduce((acc, part) => union(acc, part.first), NONE);
  const printable = parts.every((part) => part.printable);
  const nullable = parts.some((p) => p.nullable);
  return { kind: "alt", parts, nullable, first, fixed: false, printable };
}

function rep(body: PatternNode, min: number, max: number): PatternNode {
  const nullable = min === 0 || body.nullable;
  const { first, printable } = body;
  return { kind: "rep", body, min, max, nullable, first, fixed: false, printable };
}

function subset(parts: PatternNode[], sep: string): PatternNode {
  const first = parts.reduce((acc, part) => union(acc, part.first), charSet(sep));
  const nullable = parts.some((part) => part.nullable);
  return { kind: "subset", parts, sep, nullable, first, fixed: false, printable: false };
}

const optional = (body: PatternNode): PatternNode => rep(body, 0, 1);
const hexDigit = set(HEX);
const continuation = seq(lit("%"), set("89ABab"), hexDigit);
const anyTriplet = seq(lit("%"), hexDigit, hexDigit);

/** Zero or more (or one or more) value characters or percent-encoded triplets. */
const run = (chars: string, min: number): PatternNode =>
  rep(alt(set(chars, true), anyTriplet), min, Infinity);

/** One value character: allowed as is, or percent-encoded as one UTF-8 sequence. */
const unit = (chars: string): PatternNode =>
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
/** Variables in one template at most: bounds the states a match can be in at once. */
export const MAX_TEMPLATE_VARIABLES = 8;
/**
 * Prefix lengths (`{var:n}`) of one template add up to this at most: each counted character is a
 * state of its own, which no cache can share between positions.
 */
export const MAX_TEMPLATE_PREFIX_TOTAL = 16;

interface VarSpec {
  name: string;
  prefix?: number;
  explode: boolean;
}

/**
 * Parses a URI template into the pattern of every string it can expand to.
 *
 * @throws {SyntaxError} for a malformed template: unbalanced braces, an empty expression, a bad
 * variable name, a reserved operator (`=`, `,`, `!`, `@`, `|`), a prefix length outside 1 to 9999,
 * prefix and explode together, more than {@link MAX_TEMPLATE_VARIABLES} variables, or prefix
 * lengths adding up to more than {@link MAX_TEMPLATE_PREFIX_TOTAL}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTemplate } from "./_uri_template.ts";
 * assert.equal(parseTemplate("{?x,y}").nullable, true);
 * assert.throws(() => parseTemplate("/books/{id"), new SyntaxError("unclosed '{' at 7"));
 * ```
 */
export function parseTemplate(source: string): PatternNode {
  const parts: PatternNode[] = [];
  let literalStart = 0;
  let variables = 0;
  let prefixTotal = 0;
  for (let i = 0; i < source.length; i++) {
    if (source[i] === "}") throw new SyntaxError(`unmatched '}' at ${i}`);
    if (source[i] !== "{") continue;
    if (i > literalStart) parts.push(lit(source.slice(literalStart, i)));
    const close = source.indexOf("}", i + 1);
    const nested = source.indexOf("{", i + 1);
    if (close === -1 || (nested !== -1 && nested < close)) {
      throw new SyntaxError(`unclosed '{' at ${i}`);
    }
    const expression = parseExpression(source, i, close);
    variables += expression.variables;
    prefixTotal += expression.prefixTotal;
    parts.push(expression.pattern);
    i = close;
    literalStart = close + 1;
  }
  if (literalStart < source.length) parts.push(lit(source.slice(literalStart)));
  if (variables > MAX_TEMPLATE_VARIABLES) {
    throw new SyntaxError(`too many variables: ${variables} (at most ${MAX_TEMPLATE_VARIABLES})`);
  }
  if (prefixTotal > MAX_TEMPLATE_PREFIX_TOTAL) {
    throw new SyntaxError(
      `prefix lengths add up to ${prefixTotal} (at most ${MAX_TEMPLATE_PREFIX_TOTAL})`,
    );
  }
  return seq(...parts);
}

function parseExpression(
  source: string,
  open: number,
  close: number,
): { pattern: PatternNode; variables: number; prefixTotal: number } {
  const fail = (message: string): never => {
    throw new SyntaxError(message);
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
  const prefixTotal = specs.reduce((sum, spec) => sum + (spec.prefix ?? 0), 0);
  return { pattern: expressionPattern(operator, specs), variables: specs.length, prefixTotal };
}

function expressionPattern(op: Operator, specs: VarSpec[]): PatternNode {
  const items = specs.map((spec) => op.named ? namedItem(op, spec) : unnamedItem(op, spec));
  if (items.length === 1) {
    return op.first === "" ? items[0] : optional(seq(lit(op.first), items[0]));
  }
  if (op.first === op.sep) return seq(...items.map((item) => optional(seq(lit(op.sep), item))));
  return optional(seq(lit(op.first), subset(items, op.sep)));
}

/** What one defined variable expands to (without the operator's leading character or separator). */
function unnamedItem(op: Operator, spec: VarSpec): PatternNode {
  if (spec.prefix !== undefined) return rep(unit(op.chars), 0, spec.prefix);
  return run(op.chars + (spec.explode ? op.sep + "=" : ","), 0);
}

function namedItem(op: Operator, spec: VarSpec): PatternNode {
  const bareWhenEmpty = op.first === ";";
  const pair = (name: PatternNode, value: PatternNode) =>
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
