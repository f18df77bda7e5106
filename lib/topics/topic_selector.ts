/**
 * Mercure topic selectors: `*` (every topic), an exact topic, or an RFC 6570 URI template (any
 * string holding a `{`) matched against topics.
 *
 * A template matches a topic when some assignment of values expands to that topic. Templates are
 * parsed by `./uri_template.ts` and matched by `./uri_template_match.ts`, in time linear in the topic.
 * One deliberate extension: a template selector also matches the topic equal to its own text (as
 * the Mercure reference hub does).
 *
 * @module
 */

import { parseTemplate } from "./uri_template.ts";
import { compileTemplateMatcher } from "./uri_template_match.ts";

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
 * length outside 1 to 9999, prefix and explode together, or more than 32 variables.
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
  if (!source.includes("{")) {
    return new CompiledSelector(source, "exact", (topic) => topic === source);
  }
  let pattern;
  try {
    pattern = parseTemplate(source);
  } catch (error) {
    if (error instanceof SyntaxError) throw new InvalidSelectorError(source, error.message);
    throw error;
  }
  const matcher = compileTemplateMatcher(pattern);
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
