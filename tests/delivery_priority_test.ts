import assert from "node:assert/strict";
import { encodePrioritisedBatch, prioritise } from "../lib/hub/_priority.ts";
import type { StoredUpdate } from "../lib/hub/update.ts";
import { SseParser } from "../client/sse_parser.js";

function update(seq: number, topic: string, priority?: number): StoredUpdate {
  const made: StoredUpdate = {
    seq,
    id: `id${seq}`,
    topics: [topic],
    data: `${topic}${seq}`,
    time: 0,
  };
  if (priority !== undefined) made.priority = priority;
  return made;
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("a batch without priorities goes out as it is, with every id", () => {
  const batch = [update(1, "a"), update(2, "b"), update(3, "a", 0)];
  const { plan, closingId } = prioritise(batch);
  assert.deepEqual(plan.map(({ update, withId }) => [update.seq, withId]), [
    [1, true],
    [2, true],
    [3, true],
  ]);
  assert.equal(closingId, undefined);
  assert.equal(
    text(encodePrioritisedBatch(batch)),
    "id: id1\ndata: a1\n\nid: id2\ndata: b2\n\nid: id3\ndata: a3\n\n",
  );
});

Deno.test("higher priority goes first but never overtakes an earlier update of its own topic", () => {
  // a1 (0) precedes a2 (5) in topic a, so a1 rides along at 5; c4 (9) goes first of all.
  const batch = [update(1, "a"), update(2, "a", 5), update(3, "b"), update(4, "c", 9)];
  const { plan, closingId } = prioritise(batch);
  assert.deepEqual(plan.map(({ update, withId }) => [update.seq, withId]), [
    [4, false],
    [1, true],
    [2, true],
    [3, true],
  ]);
  assert.equal(closingId, "id4");
  assert.equal(
    text(encodePrioritisedBatch(batch)),
    "data: c4\n\nid: id1\ndata: a1\n\nid: id2\ndata: a2\n\nid: id3\ndata: b3\n\nid: id4\n\n",
  );
});

Deno.test("negative-priority updates are conflated to the newest of each topic", () => {
  const batch = [update(1, "t", -1), update(2, "t", -1), update(3, "n"), update(4, "t", -1)];
  const { plan, closingId } = prioritise(batch);
  assert.deepEqual(plan.map(({ update, withId }) => [update.seq, withId]), [[3, true], [4, true]]);
  assert.equal(closingId, undefined, "the ids already end at the newest position");
  assert.equal(text(encodePrioritisedBatch(batch)), "id: id3\ndata: n3\n\nid: id4\ndata: t4\n\n");
});

Deno.test("a client cut off anywhere in a prioritised batch resumes without skipping an update", () => {
  const batch = [update(1, "low", -1), update(2, "feed"), update(3, "alert", 7), update(4, "feed")];
  const bytes = text(encodePrioritisedBatch(batch));
  const sent = prioritise(batch).plan.map(({ update }) => update.data);
  assert.deepEqual(sent, ["alert3", "feed2", "feed4", "low1"]);
  // Cut the stream after every event: what the client received, plus a replay of the log after
  // its Last-Event-ID (the last id line it read), must include every update the batch sends.
  const cuts = [...bytes.matchAll(/\n\n/g)].map((match) => match.index! + 2);
  assert.equal(cuts.length, 5);
  for (const cut of cuts) {
    const head = bytes.slice(0, cut);
    const received: string[] = [];
    const parser = new SseParser({ onEvent: (event) => received.push(event.data) });
    parser.feed(head);
    const lastEventId = [...head.matchAll(/^id: (.*)$/gm)].at(-1)?.[1];
    const resumeAfter = lastEventId === undefined ? 0 : Number(lastEventId.slice(2));
    const replayed = batch.filter((u) => u.seq > resumeAfter).map((u) => u.data);
    for (const data of sent) {
      assert.ok(received.includes(data) || replayed.includes(data), `cut at ${cut}: ${data} lost`);
    }
  }
});
