/**
 * Topic selectors: `*`, exact topics and RFC 6570 URI templates, matched in time linear in the
 * topic's length, with the caps that keep any subscription's matching cheap. Code outside
 * `lib/topics/` imports from here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SelectorSet } from "./mod.ts";
 * const selectors = new SelectorSet(["https://example.com/books/{id}", "news"]);
 * assert.equal(selectors.matches("https://example.com/books/1"), true);
 * assert.equal(selectors.matches("weather"), false);
 * ```
 *
 * @module
 */

export * from "./topic_selector.ts";
