/**
 * The Deno Deploy entrypoint (`deploy.runtime.entrypoint` in deno.json): serves `main.ts`'s
 * handler with `Deno.serve`, so the app runs whether the platform starts its entrypoint like
 * `deno run` (which does not serve a default export) or like `deno serve`. The platform chooses
 * the address; tidings' `PORT` and `HOST` are not used here.
 *
 * ```sh
 * deno run -A scripts/serve_deploy.ts   # what Deno Deploy runs (it grants every permission)
 * ```
 *
 * @module
 */

import app from "../main.ts";

Deno.serve(app.fetch);
