/**
 * Positions inside the ids the hub makes (`lib/hub/update.ts`), so tests can assert order by
 * position rather than only by the set of ids.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseHubId } from "../../lib/hub/update.ts";

const HUB_ID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8([0-9a-f]{3})-([89ab][0-9a-f]{3})-([0-9a-f]{4})/;

/**
 * The log position a hub-made id names; throws for an id the hub did not make. The epoch is read
 * from the id itself, then `parseHubId` must agree.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeHubId } from "../../lib/hub/update.ts";
 * import { positionOf } from "./hub_ids.ts";
 * assert.equal(positionOf(makeHubId(1234, 987654321)), 1234);
 * assert.throws(() => positionOf("my-own-id"));
 * ```
 */
export function positionOf(id: string): number {
  const match = HUB_ID.exec(id);
  assert.ok(match, `not a hub id: ${id}`);
  const epoch = parseInt(match[1], 16) * 0x40000000 +
    (parseInt(match[2] + match[3], 16) - 0x80000000);
  const position = parseHubId(id, epoch);
  assert.ok(position !== undefined, `not a hub id: ${id}`);
  return position;
}

/**
 * Asserts that hub-made ids name strictly increasing positions (so: no duplicate and no
 * reordering), and returns the positions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeHubId } from "../../lib/hub/update.ts";
 * import { assertIncreasingPositions } from "./hub_ids.ts";
 * assert.deepEqual(assertIncreasingPositions([makeHubId(1, 5), makeHubId(3, 5)]), [1, 3]);
 * assert.throws(() => assertIncreasingPositions([makeHubId(3, 5), makeHubId(1, 5)]));
 * ```
 */
export function assertIncreasingPositions(ids: string[], label = "ids"): number[] {
  const positions = ids.map(positionOf);
  for (let i = 1; i < positions.length; i++) {
    assert.ok(
      positions[i] > positions[i - 1],
      `${label}: position ${positions[i]} at index ${i} follows ${positions[i - 1]}`,
    );
  }
  return positions;
}
