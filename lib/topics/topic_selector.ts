/**
 * Mercure topic selectors: `*` (every topic), an exact topic, or an RFC 6570 URI template (any
 * string holding a `{`) matched against topics.
 *
 * A template matches a topic when some assignment of values expands to that topic. Templates are
 * parsed by `./_uri_template.ts` and matched by `./_uri_template_match.ts`, in time linear in the topic.
 * One deliberate extension: a template selector also matches the topic equal to its own text (as
 * the Mercure reference hub does).
 *
 * @module
 */

import {
  MAX_TEMPLATE_PREFIX_TOTAL,
  MAX_TEMPLATE_VARIABLES,
  parseTemplate,
} from "./_uri_template.ts";
import { compileTemplateMatcher } from "./_uri_template_match.ts";
import { utf8ByteLength } from "../util/bytes.ts";

/** A selector's length at most, in UTF-8 bytes. */
export const MAX_SELECTOR_BYTES = 1024;
/** A URI template selector's length at most, in UTF-8 bytes (matching work grows with it). */
export const MAX_TEMPLATE_BYTES = 256;
export { MAX_TEMPLATE_PREFIX_TOTAL, MAX_TEMPLATE_VARIABLES };
/** Template (and `*`) selectors in one subscription at most: each is tried on every update. */
export const MAX_TEMPLATES_PER_SUBSCRIPTION = 16;
/** Selectors in one subscription at most. */
export const MAX_SELECTORS_PER_SUBSCRIPTION = 64;
/** Selectors in one anonymous subscription at most (each costs KV writes when it opens and ends). */
export const MAX_ANONYMOUS_SELECTORS = 16;
/** Answers each template selector remembers, for the topics it was last asked about. */
const ANSWERS_PER_TEMPLATE = 16;

/**
 * Raised for a selector that is empty or not a well-formed URI template.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileSelector } from "./topic_selector.ts";
 * assert.throws(() => compileSelector("https://example.com/{id"), {
 *   name: "InvalidSelectorError",
 *   selector: "https://example.com/{id",
 *   message: "unclosed '{' at 20",
 * });
 * ```
 */
export class InvalidSelectorError extends Error {
  /** The selector as given. */
  readonly selector: string;
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
 * import assert from "node:assert/strict";
 * import { compileSelector } from "./topic_selector.ts";
 * const selector = compileSelector("https://example.com/books/{id}");
 * assert.equal(selector.kind, "template");
 * assert.equal(selector.matches("https://example.com/books/1"), true);
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
   * import assert from "node:assert/strict";
   * import { compileSelector } from "./topic_selector.ts";
   * assert.equal(compileSelector("https://example.com/a").matches("https://example.com/A"), false);
   * ```
   */
  matches(topic: string): boolean;
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
 * length outside 1 to 9999, prefix and explode together, more than
 * {@link MAX_TEMPLATE_VARIABLES} variables, or prefix lengths adding up to more than
 * {@link MAX_TEMPLATE_PREFIX_TOTAL}; and for a selector longer than {@link MAX_SELECTOR_BYTES}
 * (a template: {@link MAX_TEMPLATE_BYTES}) UTF-8 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileSelector } from "./topic_selector.ts";
 * const books = compileSelector("https://example.com/books/{id}");
 * assert.equal(books.matches("https://example.com/books/1"), true);
 * assert.equal(books.matches("https://example.com/books/1/reviews"), false);
 * assert.equal(compileSelector("*").kind, "any");
 * ```
 */
export function compileSelector(source: string): TopicSelector {
  if (source === "") throw new InvalidSelectorError(source, "empty selector");
  if (source === "*") return new CompiledSelector(source, "any", () => true);
  const bytes = utf8ByteLength(source);
  if (bytes > MAX_SELECTOR_BYTES) {
    throw new InvalidSelectorError(
      source,
      `selector of ${bytes} bytes (UTF-8): at most ${MAX_SELECTOR_BYTES}`,
    );
  }
  if (!source.includes("{")) {
    return new CompiledSelector(source, "exact", (topic) => topic === source);
  }
  if (bytes > MAX_TEMPLATE_BYTES) {
    throw new InvalidSelectorError(
      source,
      `URI template of ${bytes} bytes (UTF-8): at most ${MAX_TEMPLATE_BYTES}`,
    );
  }
  let pattern;
  try {
    pattern = parseTemplate(source);
  } catch (error) {
    if (error instanceof SyntaxError) throw new InvalidSelectorError(source, error.message);
    throw error;
  }
  const matcher = compileTemplateMatcher(pattern);
  // The hub asks every subscriber about the same topic in turn, and feeds repeat their topics:
  // remember the answers for the most recently asked topics.
  const answers = new Map<string, boolean>();
  return new CompiledSelector(source, "template", (topic) => {
    let answer = answers.get(topic);
    if (answer === undefined) {
      answer = topic === source || matcher(topic);
      if (answers.size >= ANSWERS_PER_TEMPLATE) answers.delete(answers.keys().next().value!);
    } else {
      answers.delete(topic);
    }
    answers.set(topic, answer);
    return answer;
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
 * import assert from "node:assert/strict";
 * import { matchesSelector } from "./topic_selector.ts";
 * assert.equal(matchesSelector("https://example.com/users/{id}", "https://example.com/users/7"), true);
 * assert.equal(matchesSelector("https://example.com/{id", "https://example.com/{id"), false);
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
 * import assert from "node:assert/strict";
 * import { SelectorSet } from "./topic_selector.ts";
 * const selectors = new SelectorSet(["https://example.com/a", "https://example.com/b/{id}"]);
 * assert.deepEqual([...selectors.exactTopics], ["https://example.com/a"]);
 * assert.equal(selectors.patterns.length, 1);
 * assert.equal(selectors.matches("https://example.com/b/2"), true);
 * assert.equal(selectors.matches("https://example.com/c"), false);
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
   * import assert from "node:assert/strict";
   * import { SelectorSet } from "./topic_selector.ts";
   * assert.equal(new SelectorSet(["*"]).matchesEverything, true);
   * assert.throws(() => new SelectorSet(["ok", "{bad"]), { name: "InvalidSelectorError" });
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
   */
  matches(topic: string): boolean {
    if (this.matchesEverything || this.exactTopics.has(topic)) return true;
    for (const pattern of this.patterns) if (pattern.matches(topic)) return true;
    return false;
  }
}

/**
 * Why a subscription's selectors pass the per-subscription caps, or `undefined` when they don't:
 * at most {@link MAX_SELECTORS_PER_SUBSCRIPTION} selectors ({@link MAX_ANONYMOUS_SELECTORS} for an
 * anonymous subscriber), of which at most {@link MAX_TEMPLATES_PER_SUBSCRIPTION} templates.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SelectorSet, subscriptionCapsRefusal } from "./topic_selector.ts";
 * assert.equal(subscriptionCapsRefusal(new SelectorSet(["a", "b/{id}"]), true), undefined);
 * const many = new SelectorSet(Array.from({ length: 17 }, (_, i) => `t${i}`));
 * assert.equal(subscriptionCapsRefusal(many, true), "too many topic selectors for an anonymous subscription (at most 16)");
 * assert.equal(subscriptionCapsRefusal(many, false), undefined);
 * ```
 */
export function subscriptionCapsRefusal(
  selectors: SelectorSet,
  anonymous: boolean,
): string | undefined {
  const count = selectors.exactTopics.size + selectors.patterns.length;
  if (count > MAX_SELECTORS_PER_SUBSCRIPTION) {
    return `too many topic selectors (at most ${MAX_SELECTORS_PER_SUBSCRIPTION})`;
  }
  if (anonymous && count > MAX_ANONYMOUS_SELECTORS) {
    return `too many topic selectors for an anonymous subscription (at most ${MAX_ANONYMOUS_SELECTORS})`;
  }
  if (selectors.patterns.length > MAX_TEMPLATES_PER_SUBSCRIPTION) {
    return `too many URI template selectors (at most ${MAX_TEMPLATES_PER_SUBSCRIPTION})`;
  }
  return undefined;
}
