/**
 * The Mercure subscriptions API (JSON-LD): `GET /.well-known/mercure/subscriptions`,
 * `…/subscriptions/{topic}` and `…/subscriptions/{topic}/{subscriber}`. The subscriber token's
 * `mercure.subscribe` selectors must match the requested URL's path.
 *
 * @module
 */

import { listSubscriptions } from "../lib/hub/mod.ts";
import type { AppContext } from "../lib/app/context.ts";
import { BadRequest } from "../lib/util/http_errors.ts";
import { matchesSelector } from "../lib/topics/mod.ts";
import { authorizeSubscriber } from "./subscribe.ts";

const PREFIX = "/.well-known/mercure/subscriptions";

/**
 * Handles the subscriptions API.
 */
export async function handleSubscriptionsApi(
  request: Request,
  context: AppContext,
): Promise<Response> {
  const url = new URL(request.url);
  const rest = url.pathname.slice(PREFIX.length).split("/").filter((part) => part !== "");
  if (rest.length > 2) throw new BadRequest(404, "not a subscriptions API path");
  let topic: string | undefined;
  let subscriber: string | undefined;
  try {
    topic = rest[0] === undefined ? undefined : decodeURIComponent(rest[0]);
    subscriber = rest[1] === undefined ? undefined : decodeURIComponent(rest[1]);
  } catch {
    throw new BadRequest(400, "malformed percent-encoding in the path");
  }
  const claims = await authorizeSubscriber(request, context);
  const allowed = claims?.subscribe?.some((selector) => matchesSelector(selector, url.pathname));
  if (!allowed) {
    throw new BadRequest(
      claims ? 403 : 401,
      "the subscriptions API needs a subscriber token whose mercure.subscribe matches this URL",
    );
  }
  // The id of the newest update, usable as `Last-Event-ID`, or `earliest` for an empty log.
  const lastEventID = (await context.hub.newestId()) ?? "earliest";
  let records = await listSubscriptions(context.hub.records, topic);
  if (subscriber !== undefined) {
    records = records.filter((record) => record.subscriber === subscriber);
    if (records.length === 0) throw new BadRequest(404, "no such active subscription");
    return jsonLd({ "@context": "https://mercure.rocks/", ...records[0], lastEventID });
  }
  return jsonLd({
    "@context": "https://mercure.rocks/",
    id: url.pathname,
    type: "Subscriptions",
    lastEventID,
    subscriptions: records,
  });
}

function jsonLd(body: unknown): Response {
  return new Response(JSON.stringify(body), {
    headers: { "content-type": "application/ld+json", "cache-control": "no-store" },
  });
}
