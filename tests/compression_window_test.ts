/**
 * The compression window of event streams is 4 KiB (README: "each stream's compressor uses a 4 KiB
 * window to keep per-connection memory small"): text repeated within 4 KiB is sent as references,
 * text repeated from further back is sent again in full; a deflate stream's header says so; and
 * the hub's own streams carry that header.
 *
 * @module
 */

import assert from "node:assert/strict";
import { flushingCompressor } from "../lib/sse/compression.ts";
import { HUB_PATH } from "./support/mercure.ts";
import { rawRequest } from "./support/raw_http.ts";
import { startServer } from "./support/server.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Random text that does not compress by itself (6 bits of entropy per byte). */
function randomText(length: number): Uint8Array {
  const random = crypto.getRandomValues(new Uint8Array(length));
  return random.map((byte) => ALPHABET.charCodeAt(byte % 64));
}

/** Compressed sizes of each chunk written through one flushing compressor. */
async function compressedSizes(encoding: "gzip" | "deflate", chunks: Uint8Array[]) {
  const compressor = flushingCompressor(encoding);
  const writer = compressor.writable.getWriter();
  const reader = compressor.readable.getReader();
  const sizes: number[] = [];
  const all: Uint8Array[] = [];
  for (const chunk of chunks) {
    // Each write is flushed: what it produced is readable before the next write.
    const written = writer.write(chunk);
    let size = 0;
    for (;;) {
      const { value } = await reader.read();
      size += value!.length;
      all.push(value!);
      // A sync flush ends with an empty stored block: 00 00 ff ff.
      const tail = value!.subarray(-4);
      if (
        tail.length === 4 && tail[0] === 0 && tail[1] === 0 && tail[2] === 0xff && tail[3] === 0xff
      ) {
        break;
      }
    }
    await written;
    sizes.push(size);
  }
  await writer.close();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    all.push(value);
  }
  return { sizes, bytes: new Uint8Array(all.flatMap((chunk) => [...chunk])) };
}

for (const encoding of ["gzip", "deflate"] as const) {
  Deno.test(`${encoding} streams reference text repeated within 4 KiB and resend text repeated from further back`, async () => {
    const near = randomText(3500);
    const far = randomText(5000);
    const { sizes: nearSizes, bytes } = await compressedSizes(encoding, [near, near]);
    const { sizes: farSizes } = await compressedSizes(encoding, [far, far]);
    // 3500 bytes back is inside the window: the repeat costs a few references.
    assert.ok(nearSizes[1] < 100, `a repeat 3500 bytes back cost ${nearSizes[1]} bytes`);
    // 5000 bytes back is outside it: the repeat costs about as much as the original.
    assert.ok(
      farSizes[1] > farSizes[0] * 0.8,
      `a repeat 5000 bytes back cost ${farSizes[1]} bytes, the original ${farSizes[0]}`,
    );
    // And the stream still decodes to what went in.
    const decoded = await new Response(
      new Blob([bytes]).stream().pipeThrough(new DecompressionStream(encoding)),
    ).bytes();
    assert.deepEqual(decoded, new Uint8Array([...near, ...near]));
  });
}

Deno.test("a deflate event stream from the hub declares a 4 KiB window in its zlib header", async () => {
  const server = await startServer({ env: { TIDINGS_DEMO_FEEDS: "off" } });
  try {
    const response = await rawRequest(
      server.port,
      `GET ${HUB_PATH}?topic=window HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: deflate\r\n\r\n`,
    );
    try {
      assert.equal(response.headers.get("content-encoding"), "deflate");
      const reader = response.body.getReader();
      const { value } = await reader.read();
      // CMF: compression method 8 (deflate), CINFO = log2(window) - 8 = 4, so 4 KiB; FLG makes
      // CMF * 256 + FLG a multiple of 31.
      assert.equal(value![0], 0x48, `CMF byte ${value![0].toString(16)}`);
      assert.equal((value![0] * 256 + value![1]) % 31, 0);
      await reader.cancel();
    } finally {
      response.close();
    }
  } finally {
    await server.close();
  }
});
