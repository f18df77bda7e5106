/**
 * What every route handler receives: the settings, the hub, admission, the keys and the metrics.
 *
 * @module
 */

import type { Config } from "./config.ts";
import { type Admission, type Hub } from "../hub/mod.ts";
import type { AuthKeys } from "../auth/mercure_auth.ts";
import type { Metrics } from "./metrics.ts";
import type { PublishRateLimit } from "./rate_limit.ts";

/** The services shared by the routes of one isolate. */
export interface AppContext {
  config: Config;
  hub: Hub;
  auth: AuthKeys;
  metrics: Metrics;
  /** Admits subscriptions: connection limits, private updates, records, their end. */
  admission: Admission;
  /** The publish rate limit, exact across isolates and nodes. */
  publishRate: PublishRateLimit;
}
