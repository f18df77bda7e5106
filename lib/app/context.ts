/**
 * What every route handler receives: the settings, the hub and the keys.
 *
 * @module
 */

import type { Config } from "./config.ts";
import type { ConnectionBudget } from "../hub/connection_budget.ts";
import type { Hub } from "../hub/hub.ts";
import type { AuthKeys } from "../auth/mercure_auth.ts";
import type { Metrics } from "./metrics.ts";

/** The services shared by the routes of one isolate. */
export interface AppContext {
  config: Config;
  hub: Hub;
  auth: AuthKeys;
  metrics: Metrics;
  /** This isolate's part of the process's connection limits. */
  budget: ConnectionBudget;
}
