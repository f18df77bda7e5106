/**
 * Round-trip property tests: events written by the encoder, read back by the parser.
 *
 * Normalisation: SSE has no way to carry which line break a payload used. The encoder splits data
 * on CRLF, lone CR and lone LF into `data:` lines, and the parser joins those lines with LF. So
 * the expected `data` is the original with every CRLF, CR and LF replaced by a single "\n"
 * ("\r\n\r\n" comes back as "\n\n", "a\rb" as "a\nb"). Everything else — leading spaces, colons,
 * NUL, BOM, emoji, CJK, combining marks — must come back unchanged. Comments are split into one
 * comment per line the same way.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeEvent, encodeEventBytes, type ServerSentEvent } from "../lib/sse/encoder.ts";
import { type ParsedEvent, parseEventStream, SseParser } from "../client/sse_parser.js";
import { seededRandom } from "../lib/feeds/feed.ts";

const SEED = 0x5eed_2024;

type Random = () => number;
const randomInt = (random: Random, below: number) => Math.floor(random() * below);
const pick = <T>(random: Random, items: readonly T[]): T => items[randomInt(random, items.length)];

const DATA_PIECES = [
  "a",
  "Zz",
  "0",
  " ",
  "  lead",
  ":",
  ": not a comment",
  "data: fake",
  "id: fake",
  "\r\n\r\n",
  "\r",
  "\n",
  "\r\n",
  "\n\r",
  "😀",
  "👩‍👩‍👧",
  "世界",
  "한국어",
  "e\u0301",
  "\u0301",
  "\uFEFF",
  "\u2028",
  "\0",
  "\t",
] as const;
/** Pieces for `event` and `id`: anything but CR, LF and NUL. */
const FIELD_PIECES = [
  "a",
  "Z",
  "7",
  " ",
  ":",
  "urn:uuid:",
  "#",
  "😀",
  "世",
  "e\u0301",
  "\uFEFF",
  "\t",
] as const;
const LINE_BREAKS = /\r\n|\r|\n/g;

function randomString(random: Random, pieces: readonly string[], maxPieces: number): string {
  let text = "";
  for (let i = randomInt(random, maxPieces + 1); i > 0; i--) text += pick(random, pieces);
  return text;
}

function randomEvent(random: Random): ServerSentEvent {
  const event: ServerSentEvent = {};
  if (random() < 0.9) event.data = randomString(random, DATA_PIECES, 12);
  if (random() < 0.5) event.id = randomString(random, FIELD_PIECES, 5);
  if (random() < 0.4) event.event = randomString(random, FIELD_PIECES, 4);
  if (random() < 0.1) event.retry = randomInt(random, 100_000);
  if (random() < 0.1) event.comment = randomString(random, DATA_PIECES, 4);
  return event;
}

interface Expected {
  events: ParsedEvent[];
  retries: number[];
  comments: string[];
}

/** What an `EventSource` must see for these events, line breaks normalised to LF. */
function expectedFrom(sent: ServerSentEvent[]): Expected {
  const expected: Expected = { events: [], retries: [], comments: [] };
  let lastEventId = "";
  for (const event of sent) {
    if (event.comment !== undefined) expected.comments.push(...event.comment.split(LINE_BREAKS));
    if (event.id !== undefined) lastEventId = event.id;
    if (event.retry !== undefined) expected.retries.push(event.retry);
    if (event.data === undefined) continue; // no data: not dispatched, but its id counts
    expected.events.push({
      type: event.event || "message",
      data: event.data.replace(LINE_BREAKS, "\n"),
      lastEventId,
    });
  }
  return expected;
}

function parseChunks(chunks: (string | Uint8Array)[]): Expected {
  const seen: Expected = { events: [], retries: [], comments: [] };
  const parser = new SseParser({
    onEvent: (event) => seen.events.push(event),
    onRetry: (ms) => seen.retries.push(ms),
    onComment: (text) => seen.comments.push(text),
  });
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return seen;
}

/** Cuts `whole` at random positions; `slice` must accept any positions (bytes or code units). */
function splitRandomly<T extends { length: number; slice(a: number, b: number): T }>(
  random: Random,
  whole: T,
  maxChunk: number,
): T[] {
  const chunks: T[] = [];
  for (let start = 0; start < whole.length;) {
    const end = Math.min(whole.length, start + 1 + randomInt(random, maxChunk));
    chunks.push(whole.slice(start, end));
    start = end;
  }
  return chunks;
}

/** Cuts bytes right after every CR, so each CRLF is split between two chunks. */
function splitAfterEveryCr(bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let start = 0;
  bytes.forEach((byte, index) => {
    if (byte !== 0x0d) return;
    chunks.push(bytes.slice(start, index + 1));
    start = index + 1;
  });
  chunks.push(bytes.slice(start));
  return chunks;
}

function generateStreams(random: Random, streams: number): ServerSentEvent[][] {
  return Array.from({ length: streams }, () => {
    return Array.from({ length: 5 + randomInt(random, 20) }, () => randomEvent(random));
  });
}

Deno.test("round trip keeps the fixed awkward payloads, line breaks normalised to LF", () => {
  const cases: [string, string][] = [
    ["\r\n\r\n", "\n\n"],
    ["a\rb", "a\nb"],
    ["  lead", "  lead"],
    ["", ""],
  ];
  for (const [data, parsed] of cases) {
    const expected = [{ type: "message", data: parsed, lastEventId: "" }];
    assert.deepEqual(
      parseEventStream(encodeEvent({ data })).events,
      expected,
      JSON.stringify(data),
    );
    const bytes = encodeEventBytes({ data });
    const bytewise = Array.from(bytes, (byte) => Uint8Array.of(byte));
    assert.deepEqual(parseChunks(bytewise).events, expected, JSON.stringify(data));
  }
});

Deno.test("round trip keeps id and event values with leading spaces, colons and unicode", () => {
  const sent = { id: " :id😀", event: "  type:世", data: "x" };
  assert.deepEqual(parseEventStream(encodeEvent(sent)).events, [
    { type: "  type:世", data: "x", lastEventId: " :id😀" },
  ]);
});

Deno.test("the random generator covers every awkward piece (so the property test is not vacuous)", () => {
  const random = seededRandom(SEED);
  const allData = generateStreams(random, 60).flat().map((event) => event.data ?? "").join("");
  for (const piece of ["\r\n\r\n", "\n\r", "😀", "世界", "e\u0301", "  lead", ":", "\uFEFF"]) {
    assert.ok(allData.includes(piece), `generator never produced ${JSON.stringify(piece)}`);
  }
  assert.ok(/\r(?!\n)/.test(allData), "generator never produced a lone CR");
  assert.ok(/(?<!\r)\n/.test(allData), "generator never produced a lone LF");
});

Deno.test("round trip of hundreds of random events survives random byte, text and CR splits", () => {
  const random = seededRandom(SEED);
  const streams = generateStreams(random, 60);
  let eventCount = 0;
  let emptyDataCount = 0;
  for (const [index, sent] of streams.entries()) {
    const label = `seed ${SEED}, stream ${index}`;
    const expected = expectedFrom(sent);
    eventCount += expected.events.length;
    emptyDataCount += expected.events.filter((event) => event.data === "").length;
    const text = sent.map(encodeEvent).join("");
    const bytes = new TextEncoder().encode(text);
    assert.deepEqual(parseChunks([text]), expected, `${label}: whole text`);
    assert.deepEqual(parseChunks(splitRandomly(random, bytes, 9)), expected, `${label}: bytes`);
    assert.deepEqual(parseChunks(splitRandomly(random, text, 9)), expected, `${label}: text`);
    assert.deepEqual(parseChunks(splitAfterEveryCr(bytes)), expected, `${label}: after CR`);
    const singleBytes = Array.from(bytes, (byte) => Uint8Array.of(byte));
    assert.deepEqual(parseChunks(singleBytes), expected, `${label}: byte by byte`);
  }
  assert.ok(eventCount >= 300, `only ${eventCount} events were checked`);
  assert.ok(emptyDataCount > 0, "no event with empty data was checked");
});

Deno.test("round trip keeps events when the stream starts with a BOM and data starts with one", () => {
  const sent: ServerSentEvent[] = [{ data: "\uFEFFfirst" }, { data: "second" }];
  const bytes = new TextEncoder().encode("\uFEFF" + sent.map(encodeEvent).join(""));
  assert.deepEqual(parseChunks(splitAfterEveryCr(bytes)), expectedFrom(sent));
  assert.deepEqual(
    parseChunks(Array.from(bytes, (byte) => Uint8Array.of(byte))),
    expectedFrom(sent),
  );
});
