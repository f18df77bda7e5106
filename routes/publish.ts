/**
 * `POST /.well-known/mercure`: a Mercure publication (form fields `topic`, `data`, `id`, `type`,
 * `retry`, `private`, and tidings' `priority`). Every refusal is a 4xx that names the problem and
 * changes nothing; a 200 means the update is durable in the KV log.
 *
 * @module
 */

import type { AppContext } from "../lib/app/context.ts";
import {
  estimateUpdateSize,
  MAX_TOPIC_BYTES,
  MAX_UPDATE_SIZE,
  StorageLimitError,
  StorageUnavailableError,
  type UpdateInput,
} from "../lib/hub/mod.ts";
import { utf8ByteLength } from "../lib/util/bytes.ts";
import { BadRequest, readBodyText, refuse } from "../lib/util/http_errors.ts";
import { JwtError } from "../lib/auth/jwt.ts";
import { authorize, canPublishTo } from "../lib/auth/mercure_auth.ts";
import { isSafeFieldValue } from "../lib/sse/mod.ts";
import { matchesSelector } from "../lib/topics/mod.ts";
import { clientIp } from "../lib/util/client_ip.ts";
import { cookieOrigins, crossSiteCookieRefusal } from "../lib/app/cookie_origin.ts";

const MAX_ID_LENGTH = 256;
const MAX_TYPE_LENGTH = 128;

/**
 * Parses and validates the form of a publication.
 *
 * @throws {BadRequest} 400 naming the bad field.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseUpdateForm } from "./publish.ts";
 * const update = parseUpdateForm(new URLSearchParams("topic=news&topic=sport&data=hi&type=note"), 16);
 * assert.deepEqual([update.topics, update.data, update.type], [["news", "sport"], "hi", "note"]);
 * assert.throws(() => parseUpdateForm(new URLSearchParams("data=hi"), 16), { status: 400 });
 * ```
 */
export function parseUpdateForm(form: URLSearchParams, maxTopics: number): UpdateInput {
  const topics = form.getAll("topic");
  if (topics.length === 0) {
    throw new BadRequest(400, "missing topic: the form needs at least one topic field");
  }
  if (topics.length > maxTopics) {
    throw new BadRequest(400, `too many topics (at most ${maxTopics})`);
  }
  for (const topic of topics) {
    if (topic === "") throw new BadRequest(400, "topic must not be empty");
    if (utf8ByteLength(topic) > MAX_TOPIC_BYTES) {
      throw new BadRequest(400, `topic longer than ${MAX_TOPIC_BYTES} bytes (UTF-8)`);
    }
  }
  const update: UpdateInput = { topics, data: form.get("data") ?? "" };
  const id = form.get("id");
  if (id !== null) {
    if (id === "") throw new BadRequest(400, "id must not be empty");
    if (id.startsWith("#")) throw new BadRequest(400, "id must not start with #");
    if (!isSafeFieldValue(id)) throw new BadRequest(400, "id must not contain CR, LF or NUL");
    if (id.length > MAX_ID_LENGTH) {
      throw new BadRequest(400, `id longer than ${MAX_ID_LENGTH} characters`);
    }
    if (id === "earliest") throw new BadRequest(400, "id must not be the reserved value earliest");
    update.id = id;
  }
  const type = form.get("type");
  if (type !== null && type !== "") {
    if (!isSafeFieldValue(type)) throw new BadRequest(400, "type must not contain CR, LF or NUL");
    if (type.length > MAX_TYPE_LENGTH) {
      throw new BadRequest(400, `type longer than ${MAX_TYPE_LENGTH} characters`);
    }
    update.type = type;
  }
  const retry = form.get("retry");
  if (retry !== null && retry !== "") {
    if (!/^\d{1,9}$/.test(retry)) {
      throw new BadRequest(400, "retry must be a non-negative integer (ms)");
    }
    update.retry = Number(retry);
  }
  if (form.has("private")) update.private = true;
  const priority = form.get("priority");
  if (priority !== null && priority !== "") {
    if (!/^-?\d{1,3}$/.test(priority)) {
      throw new BadRequest(400, "priority must be an integer from -999 to 999");
    }
    update.priority = Number(priority);
  }
  if (estimateUpdateSize(update) > MAX_UPDATE_SIZE) {
    throw new BadRequest(
      413,
      "update too large for one log entry: keep data under about 60 KB (30 KB of non-Latin-1 text)",
    );
  }
  return update;
}

/**
 * Handles a publication.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "../lib/kv/kv_transport.ts";
 * import { handlePublish } from "./publish.ts";
 * import { Hub } from "../lib/hub/mod.ts";
 * import { Metrics } from "../lib/app/metrics.ts";
 * import { PublishRateLimit } from "../lib/app/rate_limit.ts";
 * import { loadConfig } from "../lib/app/config.ts";
 * import { loadAuthKeys } from "../lib/auth/auth_keys.ts";
 * import type { AppContext } from "../lib/app/context.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const hub = await Hub.open(transport);
 * const config = loadConfig(() => undefined);
 * const { keys: auth, devToken } = await loadAuthKeys(config, hub.records);
 * // Publishing needs no admission: the context's other services are not used.
 * const publishRate = new PublishRateLimit(hub.records, 0);
 * const context = { config, hub, auth, metrics: new Metrics(), publishRate } as AppContext;
 * const publish = (authorization: string) =>
 *   new Request("http://hub/.well-known/mercure", {
 *     method: "POST",
 *     headers: { authorization, "content-type": "application/x-www-form-urlencoded" },
 *     body: "topic=news&data=hello&id=first",
 *   });
 * const response = await handlePublish(publish(`Bearer ${devToken}`), context);
 * assert.deepEqual([response.status, await response.text()], [200, "first"]);
 * await assert.rejects(handlePublish(publish(""), context), { status: 401 });
 * hub.close();
 * context.metrics.close();
 * transport.close();
 * ```
 */
export async function handlePublish(
  request: Request,
  context: AppContext,
): Promise<Response> {
  const started = performance.now();
  const { metrics, config } = context;
  const contentType = request.headers.get("content-type") ?? "";
  if (!contentType.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    throw new BadRequest(415, "publish with Content-Type: application/x-www-form-urlencoded");
  }
  const crossSite = crossSiteCookieRefusal(request, cookieOrigins(config));
  if (crossSite) throw new BadRequest(403, crossSite);
  let claims;
  try {
    claims = await authorize(request, "publisher", context.auth);
  } catch (error) {
    if (error instanceof JwtError) throw new BadRequest(401, `invalid token: ${error.reason}`);
    throw error;
  }
  if (!claims) {
    throw new BadRequest(401, "publishing needs a token with mercure.publish", {
      "www-authenticate": 'Bearer realm="tidings"',
    });
  }
  // Off by default: then not even a resolved promise is awaited (a publish is a hot path).
  const limit = context.publishRate.perSecond > 0
    ? await context.publishRate.take(claims.sub ?? clientIp(request))
    : 0;
  if (limit > 0) {
    throw new BadRequest(429, "publish rate limit exceeded", {
      "retry-after": String(Math.ceil(limit / 1000)),
    });
  }
  const form = new URLSearchParams(await readBodyText(request, config.maxBodyBytes));
  const update = parseUpdateForm(form, config.maxTopicsPerUpdate);
  if (!canPublishTo(claims, update.topics, matchesSelector)) {
    throw new BadRequest(
      403,
      "mercure.publish of the token does not cover every topic of the update",
    );
  }
  if (context.hub.closing.aborted) {
    return refuse(503, "shutting down: publish elsewhere", { "retry-after": "1" });
  }
  const stored = await context.hub.publish(update).catch((error) => {
    if (error instanceof StorageLimitError) throw new BadRequest(413, error.message);
    if (error instanceof StorageUnavailableError) {
      const fate = error.maybeWritten ? " (it may have been stored)" : "";
      throw new BadRequest(503, `${error.message}${fate}: publish again`, {
        "retry-after": String(error.retryAfterSeconds),
      });
    }
    throw error;
  });
  metrics.count("events_published_total");
  metrics.histograms.publish_latency_ms.observe(performance.now() - started);
  return new Response(stored.id, {
    status: 200,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-tidings-isolate": metrics.isolate.slice(0, 8),
    },
  });
}
