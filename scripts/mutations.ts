/**
 * The deliberate bugs `deno task mutate` plants, one at a time: each names the promise it breaks,
 * the exact text it changes (which must occur exactly once in its file) and the tests that must
 * catch it. Names start with their area (`private-`, `topics-`, `resume-`, …); `--smoke` runs the
 * first of each area.
 *
 * @module
 */

/** One deliberate bug. */
export interface Mutation {
  /** `<area>-<what breaks>`. */
  name: string;
  /** The file, from the project root. */
  file: string;
  /** The text replaced; it must occur exactly once in the file. */
  find: string;
  /** What replaces it. */
  replace: string;
  /** The test files that must catch it. */
  tests: readonly string[];
}

/** Every mutation, grouped by area. */
export const MUTATIONS: readonly Mutation[] = [];
