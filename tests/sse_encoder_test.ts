import assert from "node:assert/strict";
import {
  encodeComment,
  encodeEvent,
  encodeEventBytes,
  InvalidSseFieldError,
  isSafeFieldValue,
  isValidRetry,
} from "../lib/sse/encoder.ts";

Deno.test("encoder writes id, event, retry and data in that order with a space after each colon", () => {
  assert.equal(
    encodeEvent({ data: "hello", event: "greeting", id: "42", retry: 1500 }),
    "id: 42\nevent: greeting\nretry: 1500\ndata: hello\n\n",
  );
});

Deno.test("encoder writes only the blank line for an empty event", () => {
  assert.equal(encodeEvent({}), "\n");
});

Deno.test("encoder splits LF data into data lines", () => {
  assert.equal(encodeEvent({ data: "one\ntwo\nthree" }), "data: one\ndata: two\ndata: three\n\n");
});

Deno.test("encoder splits CRLF data into data lines", () => {
  assert.equal(encodeEvent({ data: "one\r\ntwo" }), "data: one\ndata: two\n\n");
});

Deno.test("encoder splits data on a lone CR", () => {
  assert.equal(encodeEvent({ data: "a\rb" }), "data: a\ndata: b\n\n");
});

Deno.test("encoder keeps empty lines of data as empty data lines", () => {
  assert.equal(encodeEvent({ data: "a\n\nb" }), "data: a\ndata: \ndata: b\n\n");
  assert.equal(encodeEvent({ data: "\r\n\r\n" }), "data: \ndata: \ndata: \n\n");
  assert.equal(encodeEvent({ data: "end\n" }), "data: end\ndata: \n\n");
});

Deno.test("encoder treats CR followed by LF as one line break but LF followed by CR as two", () => {
  assert.equal(encodeEvent({ data: "a\r\nb" }), "data: a\ndata: b\n\n");
  assert.equal(encodeEvent({ data: "a\n\rb" }), "data: a\ndata: \ndata: b\n\n");
});

Deno.test("encoder keeps leading spaces of data after the separating space", () => {
  assert.equal(encodeEvent({ data: "  lead" }), "data:   lead\n\n");
  assert.equal(encodeEvent({ data: " x\n y" }), "data:  x\ndata:  y\n\n");
});

Deno.test("encoder writes empty string data as one empty data line", () => {
  assert.equal(encodeEvent({ data: "" }), "data: \n\n");
});

Deno.test("encoder writes colons and unicode in data unchanged", () => {
  assert.equal(encodeEvent({ data: ": not a comment" }), "data: : not a comment\n\n");
  assert.equal(encodeEvent({ data: "héllo 😀 世界" }), "data: héllo 😀 世界\n\n");
});

Deno.test("encoder writes an empty id and an empty event type as fields with empty values", () => {
  assert.equal(encodeEvent({ id: "", event: "", data: "x" }), "id: \nevent: \ndata: x\n\n");
});

Deno.test("encoder writes a comment as comment lines before the fields", () => {
  assert.equal(encodeEvent({ comment: "note", data: "x" }), ": note\ndata: x\n\n");
  assert.equal(encodeEvent({ comment: "a\r\nb", id: "1" }), ": a\n: b\nid: 1\n\n");
});

Deno.test("encodeComment writes one comment line per line and ends with a blank line", () => {
  assert.equal(encodeComment("ping"), ": ping\n\n");
  assert.equal(encodeComment("a\nb\rc\r\nd"), ": a\n: b\n: c\n: d\n\n");
});

Deno.test("encodeComment writes empty comment lines as a bare colon", () => {
  assert.equal(encodeComment(""), ":\n\n");
  assert.equal(encodeComment("a\n\nb"), ": a\n:\n: b\n\n");
});

Deno.test("encoder writes retry zero and large safe integers", () => {
  assert.equal(encodeEvent({ retry: 0 }), "retry: 0\n\n");
  assert.equal(
    encodeEvent({ retry: Number.MAX_SAFE_INTEGER }),
    `retry: ${Number.MAX_SAFE_INTEGER}\n\n`,
  );
});

for (const retry of [-1, 1.5, NaN, Infinity, Number.MAX_SAFE_INTEGER + 1]) {
  Deno.test(`encoder refuses retry ${retry} with InvalidSseFieldError naming retry`, () => {
    assert.throws(
      () => encodeEvent({ retry, data: "x" }),
      (error: unknown) => error instanceof InvalidSseFieldError && error.field === "retry",
    );
  });
}

for (const field of ["event", "id"] as const) {
  for (const [name, bad] of [["CR", "a\rb"], ["LF", "a\nb"], ["CRLF", "a\r\nb"], ["NUL", "a\0b"]]) {
    Deno.test(`encoder refuses ${field} holding ${name} with InvalidSseFieldError naming ${field}`, () => {
      assert.throws(
        () => encodeEvent({ [field]: bad, data: "x" }),
        (error: unknown) =>
          error instanceof InvalidSseFieldError && error instanceof TypeError &&
          error.field === field && error.name === "InvalidSseFieldError" &&
          error.message.includes(`"${field}"`),
      );
    });
  }
}

Deno.test("encoder allows NUL in data, where clients keep it", () => {
  assert.equal(encodeEvent({ data: "a\0b" }), "data: a\0b\n\n");
});

Deno.test("isSafeFieldValue accepts plain and unicode values and refuses CR, LF and NUL", () => {
  assert.equal(isSafeFieldValue("urn:uuid:1234"), true);
  assert.equal(isSafeFieldValue("类型 😀"), true);
  assert.equal(isSafeFieldValue(""), true);
  assert.equal(isSafeFieldValue("a\r"), false);
  assert.equal(isSafeFieldValue("\nb"), false);
  assert.equal(isSafeFieldValue("\0"), false);
});

Deno.test("isValidRetry accepts non-negative safe integers only", () => {
  assert.deepEqual(
    [0, 1, 3000, -1, 1.5, NaN, Infinity, 2 ** 53].map(isValidRetry),
    [true, true, true, false, false, false, false, false],
  );
});

Deno.test("encodeEventBytes gives the UTF-8 bytes of encodeEvent", () => {
  const event = { id: "é", event: "t", data: "😀\r\n世" };
  const bytes = encodeEventBytes(event);
  assert.ok(bytes instanceof Uint8Array);
  assert.deepEqual(bytes, new TextEncoder().encode("id: é\nevent: t\ndata: 😀\ndata: 世\n\n"));
  assert.deepEqual(
    Array.from(encodeEventBytes({ data: "é" })),
    [0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xc3, 0xa9, 0x0a, 0x0a],
  );
});

Deno.test("encodeEventBytes refuses unsafe fields like encodeEvent", () => {
  assert.throws(() => encodeEventBytes({ id: "1\n2" }), InvalidSseFieldError);
});
