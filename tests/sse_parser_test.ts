import assert from "node:assert/strict";
import {
  EventStreamDecoderStream,
  type ParsedEvent,
  parseEventStream,
  SseParser,
} from "../client/sse_parser.js";

const encoder = new TextEncoder();

interface Collected {
  events: ParsedEvent[];
  retries: number[];
  comments: string[];
  lastEventId: string;
}

/** Feeds the chunks in order, ends the stream, and returns everything the handlers saw. */
function collect(chunks: (string | Uint8Array)[]): Collected {
  const collected: Collected = { events: [], retries: [], comments: [], lastEventId: "" };
  const parser = new SseParser({
    onEvent: (event) => collected.events.push(event),
    onRetry: (ms) => collected.retries.push(ms),
    onComment: (text) => collected.comments.push(text),
  });
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  collected.lastEventId = parser.lastEventId;
  return collected;
}

function message(data: string, lastEventId = "", type = "message"): ParsedEvent {
  return { type, data, lastEventId };
}

/** Splits bytes into one chunk per byte. */
function bytewise(text: string): Uint8Array[] {
  return Array.from(encoder.encode(text), (byte) => Uint8Array.of(byte));
}

Deno.test("parser dispatches an event on a blank line with type message and data joined by LF", () => {
  const { events } = collect(["data: a\ndata: b\n\n"]);
  assert.deepEqual(events, [message("a\nb")]);
});

Deno.test("parser follows the spec example: bare data lines give empty data and a lone LF", () => {
  const { events } = collect(["data\n\ndata\ndata\n\ndata:"]);
  assert.deepEqual(events, [message(""), message("\n")]);
});

Deno.test("parser reads data with and without the space after the colon alike", () => {
  const { events } = collect(["data:test\n\ndata: test\n\n"]);
  assert.deepEqual(events, [message("test"), message("test")]);
});

Deno.test("parser strips exactly one leading space from a value", () => {
  const { events } = collect(["data:  two\ndata:   three\ndata:\tx\n\n"]);
  assert.deepEqual(events, [message(" two\n  three\n\tx")]);
});

Deno.test("parser takes a line with no colon as a field name with an empty value", () => {
  assert.deepEqual(collect(["data\n\n"]).events, [message("")]);
  assert.deepEqual(collect(["event: t\nevent\ndata: x\n\n"]).events, [message("x")]);
  assert.equal(collect(["id: 3\n\nid\n\n"]).lastEventId, "");
});

Deno.test("parser splits the field name at the first colon only", () => {
  const { events } = collect(["data: a: b:c\n\n"]);
  assert.deepEqual(events, [message("a: b:c")]);
});

Deno.test("parser ignores unknown fields and field names that differ in case or spacing", () => {
  const { events } = collect(["foo: bar\nData: no\ndata : no\ndata: yes\n\n"]);
  assert.deepEqual(events, [message("yes")]);
});

Deno.test("parser accepts LF, CR and CRLF line endings, mixed in one stream", () => {
  const { events } = collect(["data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\r"]);
  assert.deepEqual(events, [message("a\nb\nc"), message("d")]);
});

Deno.test("parser treats a CR ending one chunk and an LF starting the next as one line break", () => {
  const { events } = collect(["data: a\r", "\ndata: b\r", "\n\r", "\n"]);
  assert.deepEqual(events, [message("a\nb")]);
});

Deno.test("parser keeps the CR-then-LF rule across empty text and byte chunks", () => {
  const bytes = encoder.encode("é\n\n");
  const { events } = collect([
    "data: a\r",
    "",
    "\ndata: ",
    bytes.subarray(0, 1),
    bytes.subarray(1),
  ]);
  assert.deepEqual(events, [message("a\né")]);
  const emptyBytes = collect(["data: a\r", new Uint8Array(0), "\ndata: b\n\n"]);
  assert.deepEqual(emptyBytes.events, [message("a\nb")]);
});

Deno.test("parser treats a CR ending a chunk followed by another character as a line break", () => {
  const { events } = collect(["data: a\r", "data: b\r", "\r"]);
  assert.deepEqual(events, [message("a\nb")]);
});

Deno.test("parser treats LF followed by CR as two line breaks", () => {
  const { events } = collect(["data: a\n\rdata: b\n\n"]);
  assert.deepEqual(events, [message("a"), message("b")]);
});

Deno.test("parser reads a lone CR inside a line as the end of that line", () => {
  const { events } = collect(["data: a\rb\n\n"]);
  assert.deepEqual(events, [message("a")]);
});

Deno.test("parser reads lines split across many chunks", () => {
  const { events } = collect(["da", "ta", ": he", "llo", "\n", "\n"]);
  assert.deepEqual(events, [message("hello")]);
});

Deno.test("parser strips a leading UTF-8 BOM once", () => {
  const bom = Uint8Array.of(0xef, 0xbb, 0xbf);
  assert.deepEqual(collect([bom, encoder.encode("data: a\n\n")]).events, [message("a")]);
  assert.deepEqual(collect(["\uFEFFdata: a\n\n"]).events, [message("a")]);
  assert.deepEqual(
    collect(["\uFEFF\uFEFFdata: a\n\ndata: b\n\n"]).events,
    [message("b")],
    "a second BOM makes the first field name unknown",
  );
});

Deno.test("parser strips a BOM split across byte chunks", () => {
  const { events } = collect([Uint8Array.of(0xef), Uint8Array.of(0xbb), Uint8Array.of(0xbf, 0x64)]
    .concat(encoder.encode("ata: a\n\n")));
  assert.deepEqual(events, [message("a")]);
});

Deno.test("parser keeps a BOM that is not at the start of the stream", () => {
  assert.deepEqual(collect(["data: a\n\n", "\uFEFFdata: b\n\n"]).events, [message("a")]);
  assert.deepEqual(collect(["data: \uFEFFx\n\n"]).events, [message("\uFEFFx")]);
});

Deno.test("parser decodes multi-byte UTF-8 characters split across chunks, byte by byte", () => {
  const text = "data: é 😀 世界 ñ\u0301\n\n";
  assert.deepEqual(collect(bytewise(text)).events, [message("é 😀 世界 ñ\u0301")]);
});

Deno.test("parser decodes invalid UTF-8 as replacement characters", () => {
  const bytes = Uint8Array.of(...encoder.encode("data: a"), 0xff, ...encoder.encode("b\n\n"));
  assert.deepEqual(collect([bytes]).events, [message("a\uFFFDb")]);
});

Deno.test("parser reports comments with one leading space removed, and dispatches nothing", () => {
  const { events, comments } = collect([": ping\n:raw\n:  two\n:\n\n"]);
  assert.deepEqual(events, []);
  assert.deepEqual(comments, ["ping", "raw", " two", ""]);
});

Deno.test("parser sets the event type from the event field and resets it after each event", () => {
  const { events } = collect(["event: add\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n"]);
  assert.deepEqual(events, [message("1", "", "add"), message("2"), message("3")]);
});

Deno.test("parser does not dispatch an event with no data but resets its type", () => {
  const { events } = collect(["event: lost\nid: 1\n\ndata: x\n\n"]);
  assert.deepEqual(events, [message("x", "1")]);
});

Deno.test("parser updates the last event id even when an event with no data is not dispatched", () => {
  const parser = new SseParser({ onEvent: () => assert.fail("nothing to dispatch") });
  parser.feed("id: 5\n");
  assert.equal(parser.lastEventId, "", "the id buffer moves to lastEventId on the blank line");
  parser.feed("\n");
  assert.equal(parser.lastEventId, "5");
});

Deno.test("parser carries the last event id over to later events until it is changed", () => {
  const { events } = collect(["id: 1\ndata: a\n\ndata: b\n\nid:\ndata: c\n\nid: 2\ndata: d\n\n"]);
  assert.deepEqual(events, [message("a", "1"), message("b", "1"), message("c"), message("d", "2")]);
});

Deno.test("parser ignores an id containing NUL", () => {
  const { events, lastEventId } = collect(["id: 1\n\nid: a\0b\ndata: x\n\n"]);
  assert.deepEqual(events, [message("x", "1")]);
  assert.equal(lastEventId, "1");
});

Deno.test("parser keeps NUL inside data and event type", () => {
  const { events } = collect(["event: t\0\ndata: a\0b\n\n"]);
  assert.deepEqual(events, [message("a\0b", "", "t\0")]);
});

Deno.test("parser reports retry only when the value is all ASCII digits", () => {
  const lines = [
    "retry: 100",
    "retry: 1.5",
    "retry: -1",
    "retry: 10a",
    "retry:  200",
    "retry: ",
    "retry",
    "retry: +3",
    "retry: \u0661\u0662",
    "retry: 1e3",
    "retry:0",
    "retry: 007",
  ];
  const { retries, events } = collect([lines.join("\n") + "\n\n"]);
  assert.deepEqual(retries, [100, 0, 7]);
  assert.deepEqual(events, []);
});

Deno.test("parser reports retry as soon as its line ends, even in an event never completed", () => {
  assert.deepEqual(collect(["retry: 2500\ndata: cut"]).retries, [2500]);
});

Deno.test("parser discards an incomplete event at the end of the stream", () => {
  const complete = collect(["data: a\n\ndata: b\n"]);
  assert.deepEqual(complete.events, [message("a")]);
  const noNewline = collect(["data: a\n\ndata: b"]);
  assert.deepEqual(noNewline.events, [message("a")]);
  const withId = collect(["id: 1\ndata: a\n\nid: 2\ndata: b\n"]);
  assert.equal(withId.lastEventId, "1", "the id of the discarded event never takes effect");
});

Deno.test("parser refuses feed after end", () => {
  const parser = new SseParser({ onEvent() {} });
  parser.end();
  assert.throws(() => parser.feed("data: x\n\n"), TypeError);
});

Deno.test("parser works without the optional retry and comment handlers", () => {
  const events: ParsedEvent[] = [];
  const parser = new SseParser({ onEvent: (event) => events.push(event) });
  parser.feed(": c\nretry: 5\ndata: x\n\n");
  assert.deepEqual(events, [message("x")]);
});

Deno.test("parseEventStream returns events, the last retry, comments and the last event id", () => {
  const result = parseEventStream(
    encoder.encode(": hi\nretry: 10\nid: 7\nevent: e\ndata: x\n\nretry: 20\n\n"),
  );
  assert.deepEqual(result, {
    events: [message("x", "7", "e")],
    retry: 20,
    comments: ["hi"],
    lastEventId: "7",
  });
  assert.deepEqual(parseEventStream(""), {
    events: [],
    retry: undefined,
    comments: [],
    lastEventId: "",
  });
});

Deno.test("EventStreamDecoderStream turns byte chunks into events and reports retry and comments", async () => {
  const retries: number[] = [];
  const comments: string[] = [];
  const source = ReadableStream.from(
    bytewise(": c\r\nretry: 9\r\nid: é\r\ndata: 😀\r\n\r\ndata: cut"),
  );
  const events = await Array.fromAsync(
    source.pipeThrough(
      new EventStreamDecoderStream({
        onRetry: (ms) => retries.push(ms),
        onComment: (text) => comments.push(text),
      }),
    ),
  );
  assert.deepEqual(events, [message("😀", "é")]);
  assert.deepEqual(retries, [9]);
  assert.deepEqual(comments, ["c"]);
});

Deno.test("EventStreamDecoderStream decodes a response body", async () => {
  const body = new Response("data: a\n\nevent: t\ndata: b\n\n").body!;
  const events = await Array.fromAsync(body.pipeThrough(new EventStreamDecoderStream()));
  assert.deepEqual(events, [message("a"), message("b", "", "t")]);
});

Deno.test("parser reads a 10 MB data line fed in 64 KiB chunks", () => {
  const payload = "x😀".repeat(10 * 1024 * 1024 / 6);
  const bytes = encoder.encode(`data: ${payload}\n\n`);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += 65_536) chunks.push(bytes.subarray(i, i + 65_536));
  const { events } = collect(chunks);
  assert.equal(events.length, 1);
  assert.equal(events[0].data.length, payload.length);
  assert.ok(events[0].data === payload);
});

Deno.test("parser reads a 10 MB stream of small CRLF events fed in odd-sized chunks", () => {
  const parts: string[] = [];
  for (let i = 0; i < 350_000; i++) parts.push(`id: ${i}\r\ndata: event ${i}\r\n\r\n`);
  const bytes = encoder.encode(parts.join(""));
  assert.ok(bytes.length > 10_000_000);
  let count = 0;
  const parser = new SseParser({
    onEvent: (event) => {
      assert.equal(event.data, `event ${count}`);
      assert.equal(event.lastEventId, String(count));
      count++;
    },
  });
  for (let i = 0; i < bytes.length; i += 4_099) parser.feed(bytes.subarray(i, i + 4_099));
  parser.end();
  assert.equal(count, 350_000);
});
