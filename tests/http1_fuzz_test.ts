/**
 * Fuzzing the direct listener's parser: 10,000 requests from a seeded generator (valid requests,
 * then mutated: bytes flipped, inserted, dropped, cut short; control characters, bare CR/LF,
 * odd versions, Content-Length and chunked framing broken every way), each on its own connection.
 * Every exchange must end (no hang), no answer may be a 5xx other than the 501 and 505 RFC 9112
 * prescribes for an unknown transfer coding and an unsupported version, the handler must never
 * fail, and the server must still answer a plain request at the end. `FUZZ_SEED=<n>` replays a
 * run; a failure prints its seed and request.
 *
 * @module
 */

import assert from "node:assert/strict";
import { serveHttp1 } from "../lib/http1/server.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20_261_206);
const REQUESTS = 10_000;
const CONCURRENCY = 48;
/** An exchange must end within this: generous, it only catches hangs. */
const EXCHANGE_DEADLINE_MS = 5000;

/** mulberry32: a small seeded generator, so that a failure reproduces. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T =>
  items[Math.floor(random() * items.length)];
const int = (random: Random, max: number) => Math.floor(random() * max);
/** Usually (90%) one of the first `valid` items, else any. */
const mostly = <T>(random: Random, items: readonly T[], valid: number): T =>
  random() < 0.9 ? items[int(random, valid)] : pick(random, items);

const METHODS = ["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "G@T", "", "get"];
const TARGETS = [
  "/",
  "/.well-known/mercure?topic=a",
  "/a%20b?x=1&y",
  "http://h/abs",
  "*",
  "/#frag",
  "//double",
  "/" + "x".repeat(300),
  "/é",
  "",
];
const VERSIONS = [
  "HTTP/1.1",
  "HTTP/1.0",
  "HTTP/2.0",
  "HTTP/1.2",
  "HTTP/0.9",
  "HTTP/1.1 ",
  "http/1.1",
  "HTTP/11",
];
const NAMES = [
  "Host",
  "X-A",
  "Accept",
  "Connection",
  "Expect",
  "Content-Type",
  "X Y",
  "X:Y",
  "",
  "Transfer-Encoding",
];
const VALUES = [
  "h",
  "a b",
  "close",
  "keep-alive",
  "100-continue",
  "text/plain",
  "\x01",
  "a\x00b",
  "\x7f",
  "é",
  " padded ",
  "a\tb",
  "chunked",
  "gzip, chunked",
];
const SPECIALS = ["\r", "\n", "\r\n", "\0", " ", "\t", ":", "\x7f", "\xff", "0", "\r\n\r\n"];

/** One request: a well-formed one, often mutated. */
function generate(random: Random): string {
  const method = mostly(random, METHODS, 7);
  const version = mostly(random, VERSIONS, 2);
  const lines = [`${method} ${mostly(random, TARGETS, 4)} ${version}`];
  if (random() < 0.9) lines.push(`Host: ${random() < 0.9 ? "h" : pick(random, VALUES)}`);
  for (let i = int(random, 4); i > 0; i--) {
    lines.push(`${mostly(random, NAMES, 6)}: ${mostly(random, VALUES, 6)}`);
  }
  let body = "";
  const framing = random();
  if (framing < 0.3) {
    const data = "x".repeat(int(random, 20));
    const declared = random() < 0.8
      ? String(data.length)
      : pick(random, ["-1", "1e3", "5, 5", "", "99999999", "+3", "0x10"]);
    lines.push(`Content-Length: ${declared}`);
    body = data;
  } else if (framing < 0.6) {
    lines.push("Transfer-Encoding: chunked");
    for (let i = int(random, 3); i > 0; i--) {
      const data = "y".repeat(1 + int(random, 12));
      const size = random() < 0.8
        ? data.length.toString(16)
        : pick(random, ["2 9", "g", "", "-1", "fffffffffffffffff", "1;ext=v", "1 ;e", "1\t"]);
      body += `${size}\r\n${data}\r\n`;
    }
    body += random() < 0.9
      ? "0\r\n\r\n"
      : pick(random, ["0\r\nX-T: 1\r\n\r\n", "0\n\n", "0\r\n", "zz\r\n\r\n"]);
  }
  const eol = random() < 0.95 ? "\r\n" : "\n";
  let text = lines.join(eol) + eol + eol + body;
  if (random() < 0.5) text = mutate(random, text);
  if (random() < 0.1) text += text; // pipelined
  return text;
}

function mutate(random: Random, text: string): string {
  for (let count = 1 + int(random, 3); count > 0; count--) {
    const at = int(random, text.length + 1);
    const kind = random();
    if (kind < 0.3) text = text.slice(0, at) + pick(random, SPECIALS) + text.slice(at);
    else if (kind < 0.5) text = text.slice(0, at) + text.slice(at + 1 + int(random, 4));
    else if (kind < 0.7) {
      text = text.slice(0, at) + String.fromCharCode(int(random, 256)) + text.slice(at + 1);
    } else if (kind < 0.8) text = text.slice(0, at); // cut short
    else if (kind < 0.9) {
      text = text.slice(0, at) + text.slice(at, at + 8).repeat(3) + text.slice(at);
    } else text = text.replace("\r\n", pick(random, ["\n", "\r", "\r\r\n", "\n\r"]));
  }
  return text;
}

/** Every status code in a raw response stream, parsing heads and framed bodies. */
function statuses(raw: string): number[] {
  const found: number[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) {
      throw new Error(`a response head does not end: ${JSON.stringify(rest.slice(0, 200))}`);
    }
    const head = rest.slice(0, end);
    const match = /^HTTP\/1\.1 (\d{3}) /.exec(head);
    if (!match) throw new Error(`not a status line: ${JSON.stringify(head.slice(0, 100))}`);
    const status = Number(match[1]);
    found.push(status);
    rest = rest.slice(end + 4);
    const length = /\r\ncontent-length: (\d+)/i.exec(head);
    if (/\r\ntransfer-encoding: chunked/i.test(head)) {
      while (true) {
        const lineEnd = rest.indexOf("\r\n");
        const size = parseInt(rest.slice(0, lineEnd), 16);
        rest = rest.slice(lineEnd + 2 + size + 2);
        if (size === 0) break;
      }
    } else if (length) rest = rest.slice(Number(length[1]));
    else if (status !== 100 && status !== 204 && status !== 304) rest = "";
  }
  return found;
}

async function exchange(port: number, request: string, closeWrite: boolean): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), EXCHANGE_DEADLINE_MS);
  let hung = false;
  const bytes = Uint8Array.from(request, (char) => char.charCodeAt(0) & 0xff);
  let raw = "";
  try {
    const writing = (async () => {
      for (let offset = 0; offset < bytes.length;) {
        offset += await conn.write(bytes.subarray(offset));
      }
      if (closeWrite) await conn.closeWrite();
    })().catch(() => {/* the server may close first */});
    const buffer = new Uint8Array(65_536);
    while (true) {
      const n = await conn.read(buffer).catch((error) => {
        if (error instanceof Deno.errors.BadResource) hung = true;
        return null;
      });
      if (n === null) break;
      raw += String.fromCharCode(...buffer.subarray(0, n));
    }
    await writing;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the deadline */ }
  }
  if (hung) throw new Error(`no end within ${EXCHANGE_DEADLINE_MS} ms`);
  return raw;
}

Deno.test(`the direct listener's parser survives ${REQUESTS} generated requests: no 5xx but 501/505, no crash, no hang`, async () => {
  const handlerFailures: string[] = [];
  const server = serveHttp1(
    { port: 0, hostname: "127.0.0.1", headTimeoutMs: 500 },
    async (request) => {
      try {
        const body = request.body === null ? "" : await request.text();
        return new Response(`${request.method} ${new URL(request.url).pathname} ${body.length}`);
      } catch (error) {
        handlerFailures.push(String(error));
        return new Response("body failed", { status: 400 });
      }
    },
  );
  const random = prng(SEED);
  const requests = Array.from({ length: REQUESTS }, () => ({
    text: generate(random),
    closeWrite: random() < 0.98, // the rest wait for the head timeout
  }));
  const counts = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const index = next++;
      const { text, closeWrite } = requests[index];
      const context = `seed ${SEED}, request ${index}: ${JSON.stringify(text)}`;
      let found: number[];
      try {
        found = statuses(await exchange(server.addr.port, text, closeWrite));
      } catch (error) {
        throw new Error(`${context}: ${(error as Error).message}`);
      }
      for (const status of found) {
        counts.set(status, (counts.get(status) ?? 0) + 1);
        assert.ok(status < 500 || status === 501 || status === 505, `${context}: got ${status}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  assert.deepEqual(handlerFailures, [], `seed ${SEED}`);
  // Still alive and well.
  const response = await fetch(`http://127.0.0.1:${server.addr.port}/after`);
  assert.equal(await response.text(), "GET /after 0");
  // Both kinds of answer were exercised.
  assert.ok((counts.get(200) ?? 0) > 1000, `seed ${SEED}: ${JSON.stringify([...counts])}`);
  assert.ok((counts.get(400) ?? 0) > 1000, `seed ${SEED}: ${JSON.stringify([...counts])}`);
  await server.shutdown();
});
