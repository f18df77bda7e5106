/**
 * Response compression: gzip or deflate when `Accept-Encoding` asks for it.
 *
 * Event streams go through a `node:zlib` stream with a sync flush after every chunk, so each
 * batch of events reaches the client at once (a plain `CompressionStream` would hold them back).
 * Each stream's compressor uses a small window (4 KiB) and memory level, keeping per-connection
 * memory to a few KiB. Other compressible responses use `CompressionStream`.
 *
 * @module
 */

import zlib from "node:zlib";

type Encoding = "gzip" | "deflate";

/**
 * The encoding to use for an `Accept-Encoding` header: gzip preferred, then deflate; `undefined`
 * when neither is acceptable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { negotiateEncoding } from "./compression.ts";
 * assert.equal(negotiateEncoding("deflate;q=0.5, gzip"), "gzip");
 * assert.equal(negotiateEncoding("gzip;q=0, br"), undefined);
 * ```
 */
export function negotiateEncoding(header: string | null): Encoding | undefined {
  if (!header) return undefined;
  const accepted = new Map<string, number>();
  for (const part of header.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    let quality = 1;
    for (const param of params) {
      const [key, value] = param.trim().split("=");
      if (key === "q") quality = Number(value);
    }
    if (name) accepted.set(name, Number.isFinite(quality) ? quality : 0);
  }
  const quality = (name: string) =>
    accepted.get(name) ?? (accepted.has("*") ? accepted.get("*")! : 0);
  const gzip = quality("gzip");
  const deflate = quality("deflate");
  if (gzip > 0 && gzip >= deflate) return "gzip";
  if (deflate > 0) return "deflate";
  return undefined;
}

/** Bytes in and out of the flushing compressors, for metrics and the benchmark. */
export const compressionStats = { bytesIn: 0, bytesOut: 0 };

/**
 * A transform that compresses and flushes after every chunk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flushingCompressor } from "./compression.ts";
 * const compressed = new Blob(["data: hi\n\n"]).stream().pipeThrough(flushingCompressor("gzip"));
 * const text = await new Response(compressed).body!.pipeThrough(new DecompressionStream("gzip"))
 *   .pipeThrough(new TextDecoderStream()).getReader().read();
 * assert.equal(text.value, "data: hi\n\n");
 * ```
 */
export function flushingCompressor(encoding: Encoding): TransformStream<Uint8Array, Uint8Array> {
  const options = { level: 6, windowBits: 12, memLevel: 4 };
  const compressor = encoding === "gzip" ? zlib.createGzip(options) : zlib.createDeflate(options);
  let output: Uint8Array[] = [];
  compressor.on("data", (chunk: Uint8Array) => output.push(new Uint8Array(chunk)));
  const drain = (controller: TransformStreamDefaultController<Uint8Array>) => {
    for (const chunk of output) {
      compressionStats.bytesOut += chunk.length;
      controller.enqueue(chunk);
    }
    output = [];
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      compressionStats.bytesIn += chunk.length;
      return new Promise<void>((resolve, reject) => {
        compressor.write(chunk, (error?: Error | null) => {
          if (error) return reject(error);
        });
        compressor.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          drain(controller);
          resolve();
        });
      });
    },
    flush(controller) {
      return new Promise<void>((resolve) => {
        compressor.once("end", () => {
          drain(controller);
          resolve();
        });
        compressor.end();
      });
    },
    cancel() {
      compressor.destroy();
    },
  });
}

const COMPRESSIBLE = /^(text\/|application\/(json|ld\+json|javascript)|image\/svg\+xml)/;

/**
 * Compresses a response when the client accepts it and the body is worth compressing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maybeCompress } from "./compression.ts";
 * const request = new Request("http://x/", { headers: { "accept-encoding": "gzip" } });
 * const response = maybeCompress(
 *   request,
 *   new Response("x".repeat(1000), { headers: { "content-type": "text/plain", "content-length": "1000" } }),
 * );
 * assert.equal(response.headers.get("content-encoding"), "gzip");
 * ```
 */
export function maybeCompress(request: Request, response: Response): Response {
  // `response.body` is read last: touching it turns a string or bytes body into a stream, which
  // Deno then has to pump chunk by chunk instead of sending in one write.
  if (response.headers.has("content-encoding")) return response;
  const type = response.headers.get("content-type") ?? "";
  if (!COMPRESSIBLE.test(type)) return response;
  const encoding = negotiateEncoding(request.headers.get("accept-encoding"));
  if (!encoding) return response;
  const stream = type.startsWith("text/event-stream");
  // Other responses only when their length is known and worth it (tiny bodies grow when gzipped).
  if (!stream && !(Number(response.headers.get("content-length")) >= 512)) return response;
  if (!response.body) return response;
  const body = stream
    ? response.body.pipeThrough(flushingCompressor(encoding))
    : response.body.pipeThrough(new CompressionStream(encoding));
  const headers = new Headers(response.headers);
  headers.set("content-encoding", encoding);
  headers.delete("content-length");
  headers.append("vary", "accept-encoding");
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}
