/**
 * Server-side filtering: `?filter=field:value` keeps only updates whose JSON data has that value
 * at that field. Several filters must all match; a dotted field reaches into nested objects
 * (`?filter=homeTeam.name:Hawks`); `field:a|b` accepts either value. Values compare as text, so
 * `price:10` matches the number 10 and the string "10".
 *
 * @module
 */

import { BadRequest } from "../util/http_errors.ts";
import type { StoredUpdate } from "./update.ts";

const parsedData = new WeakMap<StoredUpdate, unknown>();

function dataOf(update: StoredUpdate): unknown {
  if (parsedData.has(update)) return parsedData.get(update);
  let value: unknown;
  try {
    value = JSON.parse(update.data);
  } catch {
    value = undefined;
  }
  parsedData.set(update, value);
  return value;
}

function valueAt(data: unknown, path: string[]): unknown {
  let value = data;
  for (const part of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * Parses `filter` query values into one predicate, or `undefined` when there are none.
 *
 * @throws {BadRequest} 400 naming the malformed filter.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDataFilter } from "./data_filter.ts";
 * const keep = parseDataFilter(["symbol:AAPL"])!;
 * assert.equal(keep({ seq: 1, id: "a", topics: ["stocks"], data: '{"symbol":"AAPL"}', time: 0 }), true);
 * assert.equal(keep({ seq: 2, id: "b", topics: ["stocks"], data: '{"symbol":"MSFT"}', time: 0 }), false);
 * ```
 */
export function parseDataFilter(
  values: string[],
): ((update: StoredUpdate) => boolean) | undefined {
  if (values.length === 0) return undefined;
  if (values.length > 16) throw new BadRequest(400, "at most 16 filter parameters");
  const conditions = values.map((value) => {
    const colon = value.indexOf(":");
    const field = colon > 0 ? value.slice(0, colon) : "";
    if (!/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/.test(field) || value.length > 512) {
      throw new BadRequest(
        400,
        `bad filter ${JSON.stringify(value.slice(0, 80))}: expected field:value, e.g. symbol:AAPL`,
      );
    }
    return { path: field.split("."), accepted: new Set(value.slice(colon + 1).split("|")) };
  });
  return (update) => {
    const data = dataOf(update);
    return conditions.every(({ path, accepted }) => {
      const value = valueAt(data, path);
      if (value === undefined || (typeof value === "object" && value !== null)) return false;
      return accepted.has(String(value));
    });
  };
}
