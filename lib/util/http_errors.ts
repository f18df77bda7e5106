import { concatBytes } from "./bytes.ts";

/**
 * Refusals: every 4xx/5xx tidings sends says why, in plain text.
 *
 * @module
 */

/**
 * A plain-text error response carrying its reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuse } from "./http_errors.ts";
 * const response = refuse(400, "missing topic");
 * assert.equal(response.status, 400);
 * assert.equal(await response.text(), "missing topic\n");
 * ```
 */
export function refuse(status: number, reason: string, headers?: HeadersInit): Response {
  const merged = new Headers(headers);
  merged.set("content-type", "text/plain; charset=utf-8");
  merged.set("x-tidings-refusal", reason.slice(0, 200).replace(/[^\x20-\x7e]/g, "?"));
  return new Response(reason + "\n", { status, headers: merged });
}

/**
 * An error thrown by request parsing that becomes a 4xx response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BadRequest } from "./http_errors.ts";
 * const error = new BadRequest(413, "body too large");
 * assert.deepEqual([error.status, error.message, error.name], [413, "body too large", "BadRequest"]);
 * ```
 */
export class BadRequest extends Error {
  constructor(readonly status: number, reason: string, readonly headers?: HeadersInit) {
    super(reason);
    this.name = "BadRequest";
  }
}

/**
 * Reads a request body as text, refusing one larger than `maxBytes` (413) without buffering more.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readBodyText } from "./http_errors.ts";
 * const post = (body: string) => new Request("http://x/", { method: "POST", body });
 * assert.equal(await readBodyText(post("hi"), 10), "hi");
 * await assert.rejects(readBodyText(post("far too long"), 10), { status: 413, message: "body larger than 10 bytes" });
 * ```
 */
export async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    throw new BadRequest(413, `body larger than ${maxBytes} bytes`);
  }
  let bytes: Uint8Array;
  if (declared !== null) {
    // A declared length was checked: read it in one native call. `request.body` stays untouched:
    // reading it first builds a ReadableStream and collects through it, which cost a fifth of
    // the requests/s of a durable publish on `deno serve` (BENCHMARKS.md, issue 14).
    bytes = new Uint8Array(await request.arrayBuffer());
  } else {
    if (!request.body) return "";
    // No length (chunked): count while reading, and stop at the limit.
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = request.body.getReader();
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new BadRequest(413, `body larger than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
    bytes = concatBytes(chunks);
  }
  if (bytes.length > maxBytes) throw new BadRequest(413, `body larger than ${maxBytes} bytes`);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new BadRequest(400, "body is not valid UTF-8");
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a JSON object body; an empty body gives `{}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readJsonObject } from "./http_errors.ts";
 * const post = (body: string) => new Request("http://x/", { method: "POST", body });
 * assert.deepEqual(await readJsonObject(post('{"a":1}'), 100), { a: 1 });
 * await assert.rejects(readJsonObject(post("[1]"), 100), { status: 400, message: "JSON body must be an object" });
 * ```
 */
export async function readJsonObject(
  request: Request,
  maxBytes: number,
): Promise<Record<string, unknown>> {
  const text = await readBodyText(request, maxBytes);
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BadRequest(400, `malformed JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BadRequest(400, "JSON body must be an object");
  }
  return value as Record<string, unknown>;
}
