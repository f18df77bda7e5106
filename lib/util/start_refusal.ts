/**
 * Reasons not to start at all: a setting with a bad value, or a store that cannot work here. The
 * message says what to set; `refuseToStart` (in `lib/app/config.ts`) prints it and exits with 2.
 *
 * @module
 */

/** A reason not to start at all; the message says what to set. */
export class StartRefusal extends Error {
  override name = "StartRefusal";
}

/** A setting with a bad value; the message names the variable and what it accepts. */
export class ConfigError extends StartRefusal {
  /**
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ConfigError } from "./start_refusal.ts";
   * const error = new ConfigError("PORT", "abc", "an integer from 0 to 65535");
   * assert.ok(error.message.includes("PORT"));
   * ```
   */
  constructor(readonly variable: string, value: string, accepted: string, secret = false) {
    const shown = secret ? `(a secret of ${value.length} characters)` : JSON.stringify(value);
    super(`${variable}=${shown} is not valid: expected ${accepted}`);
    this.name = "ConfigError";
  }
}
