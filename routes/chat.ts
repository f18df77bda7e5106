/**
 * `POST /chat/typing` with `{"user": "<name>"}`: marks a user as typing for a few seconds. The
 * mark lives in the shared store so the chat feed's producer, wherever it runs, sees it.
 *
 * @module
 */

import type { AppContext } from "../lib/app/context.ts";
import { isValidUserName } from "../lib/feeds/chat.ts";
import { markTyping } from "../lib/feeds/typing.ts";
import { BadRequest, readJsonObject } from "../lib/util/http_errors.ts";

/** Handles a typing notification (204). */
export async function handleTyping(request: Request, context: AppContext): Promise<Response> {
  const body = await readJsonObject(request, 1024);
  if (typeof body.user !== "string" || !isValidUserName(body.user)) {
    throw new BadRequest(400, 'body must be {"user": "<1-32 letters, digits, spaces or _ - .>"}');
  }
  await markTyping(context.hub.records, body.user.trim());
  return new Response(null, { status: 204 });
}
