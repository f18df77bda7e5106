/**
 * The deliberate bugs `deno task mutate` plants, one at a time: each names the promise it breaks,
 * the exact text it changes (which must occur exactly once in its file) and the tests that must
 * catch it. Names start with their area (`private-`, `topics-`, `resume-`, …); `--smoke` runs the
 * first of each area.
 *
 * @module
 */

/** One deliberate bug. */
export interface Mutation {
  /** `<area>-<what breaks>`. */
  name: string;
  /** The file, from the project root. */
  file: string;
  /** The text replaced; it must occur exactly once in the file. */
  find: string;
  /** What replaces it. */
  replace: string;
  /** The test files that must catch it. */
  tests: readonly string[];
}

/** Every mutation, grouped by area. */
export const MUTATIONS: readonly Mutation[] = [
  // Private updates: live, replay, the rule itself, WebSocket, resume.
  {
    name: "private-live-fanout-skips-the-rule",
    file: "lib/hub/_subscriber.ts",
    find: "if (this.overflowedAt !== undefined || !this.accepts(update)) return false;",
    replace: "if (this.overflowedAt !== undefined) return false;",
    tests: ["tests/mercure_auth_flow_test.ts", "tests/fanout_test.ts"],
  },
  {
    name: "private-replay-leaks-history",
    file: "lib/hub/_subscription.ts",
    find: "batch = page.updates.filter(accepts);",
    replace: "batch = page.updates;",
    tests: ["tests/mercure_private_replay_test.ts"],
  },
  {
    name: "private-rule-lets-anyone-see",
    file: "lib/hub/_visibility.ts",
    find: "return !update.private || canReceivePrivate(claims, update.topics, matchesSelector);",
    replace: "return true;",
    tests: ["tests/mercure_auth_flow_test.ts"],
  },
  {
    name: "private-rule-any-selector-suffices",
    file: "lib/auth/mercure_auth.ts",
    find: "return topics.some((topic) => selectors.some((selector) => matches(selector, topic)));",
    replace: "return selectors.length > 0;",
    tests: ["tests/mercure_auth_flow_test.ts", "tests/mercure_auth_test.ts"],
  },
  {
    name: "private-websocket-skips-the-rule",
    file: "routes/websocket.ts",
    find: "for await (const batch of context.hub.subscribeUpdates(options)) {",
    replace:
      "for await (const batch of context.hub.subscribeUpdates({ ...options, accepts: () => true })) {",
    tests: ["tests/mercure_private_replay_test.ts", "tests/websocket_test.ts"],
  },
  {
    name: "private-resume-reveals-the-id",
    file: "lib/hub/hub.ts",
    find: "return mayReceive(claims, update);",
    replace: "return true;",
    tests: ["tests/web_security_test.ts"],
  },
  // Topic matching.
  {
    name: "topics-exact-matches-a-prefix",
    file: "lib/topics/topic_selector.ts",
    find: 'return new CompiledSelector(source, "exact", (topic) => topic === source);',
    replace: 'return new CompiledSelector(source, "exact", (topic) => topic.startsWith(source));',
    tests: ["tests/topic_selector_test.ts", "tests/mercure_subscribe_test.ts"],
  },
  {
    name: "topics-set-ignores-its-patterns",
    file: "lib/topics/topic_selector.ts",
    find: "for (const pattern of this.patterns) if (pattern.matches(topic)) return true;",
    replace: "",
    tests: ["tests/topic_selector_test.ts", "tests/mercure_subscribe_test.ts"],
  },
  // Resuming: an id, earliest, trimmed history; hub ids.
  {
    name: "resume-skips-the-next-update",
    file: "lib/hub/hub.ts",
    find: "return { afterSeq: seq, resumedFrom: lastEventId };",
    replace: "return { afterSeq: seq + 1, resumedFrom: lastEventId };",
    tests: ["tests/mercure_resume_test.ts"],
  },
  {
    name: "resume-earliest-starts-at-the-head",
    file: "lib/hub/hub.ts",
    find: 'return { afterSeq: 0, resumedFrom: "earliest" };',
    replace: 'return { afterSeq: await this.log.headSeq(), resumedFrom: "earliest" };',
    tests: ["tests/mercure_resume_test.ts"],
  },
  {
    name: "resume-ignores-trimmed-history",
    file: "lib/hub/hub.ts",
    find: "trimmed.every((upTo) => seq! >= upTo) &&",
    replace: "trimmed.length >= 0 &&",
    tests: ["tests/mercure_resume_test.ts"],
  },
  {
    name: "resume-hub-ids-lose-their-low-byte",
    file: "lib/hub/update.ts",
    find: "return parseInt(first, 16) * 0x100 + parseInt(second, 16);",
    replace: "return parseInt(first, 16) * 0x100;",
    tests: ["tests/event_log_test.ts"],
  },
  // The broker: gaps filled, duplicates dropped, order kept, a failing catch-up logged sparingly.
  {
    name: "broker-delivers-over-a-gap",
    file: "lib/hub/_broker.ts",
    find: "if (first > this.#cursor + 1) {",
    replace: "if (first > this.#cursor + 1 && false) {",
    tests: ["tests/broker_test.ts", "tests/multi_process_test.ts"],
  },
  {
    name: "broker-delivers-duplicates",
    file: "lib/hub/_broker.ts",
    find: "? item.filter((update) => update.seq > this.#cursor)",
    replace: "? item",
    tests: ["tests/broker_test.ts"],
  },
  {
    name: "broker-logs-every-failed-catch-up",
    file: "lib/hub/_broker.ts",
    find: "if (++this.#failures === 1 || now - this.#failureLoggedAt >= FAILURE_LOG_EVERY_MS) {",
    replace: "if (++this.#failures >= 1) {",
    tests: ["tests/broker_test.ts"],
  },
  // The event log: contiguous positions, one bad update alone, a maybe-written batch once.
  {
    name: "log-positions-skip-one",
    file: "lib/kv/kv_transport.ts",
    find: "const seq = first + index;",
    replace: "const seq = first + index * 2;",
    tests: ["tests/event_log_test.ts"],
  },
  {
    name: "log-bad-update-fails-its-batch",
    file: "lib/hub/_event_log.ts",
    find: "if (!stored && done.length > 1 && !(failure instanceof StorageUnavailableError)) {",
    replace: "if (!stored && done.length > 1 && false) {",
    tests: ["tests/event_log_test.ts"],
  },
  {
    name: "log-maybe-written-batch-appended-again",
    file: "lib/hub/_event_log.ts",
    find: "&& !(failure instanceof StorageUnavailableError)) {",
    replace: ") {",
    tests: ["tests/event_log_test.ts"],
  },
  // The encoder: line splitting and field refusal.
  {
    name: "encoder-splits-only-on-lf",
    file: "lib/sse/encoder.ts",
    find: "const LINE_BREAK = /\\r\\n|\\r|\\n/;",
    replace: "const LINE_BREAK = /\\n/;",
    tests: ["tests/sse_encoder_test.ts", "tests/sse_roundtrip_test.ts"],
  },
  {
    name: "encoder-accepts-newlines-in-fields",
    file: "lib/sse/encoder.ts",
    find: "const FORBIDDEN_IN_FIELD = /[\\r\\n\\0]/;",
    replace: "const FORBIDDEN_IN_FIELD = /\\0/;",
    tests: ["tests/sse_encoder_test.ts", "tests/mercure_publish_refusals_test.ts"],
  },
  // JWT: expiry, not-before, algorithm.
  {
    name: "jwt-accepts-expired-tokens",
    file: "lib/auth/jwt.ts",
    find: "if (payload.exp !== undefined && nowSeconds >= payload.exp)",
    replace: "if (payload.exp !== undefined && nowSeconds >= payload.exp + 86_400)",
    tests: ["tests/jwt_test.ts"],
  },
  {
    name: "jwt-ignores-not-before",
    file: "lib/auth/jwt.ts",
    find: "if (payload.nbf !== undefined && nowSeconds + NBF_LEEWAY_SECONDS < payload.nbf) {",
    replace: "if (payload.nbf !== undefined && false) {",
    tests: ["tests/jwt_test.ts"],
  },
  {
    name: "jwt-accepts-another-algorithm",
    file: "lib/auth/jwt.ts",
    find: "if (header.alg !== algorithm) {",
    replace: 'if (header.alg !== algorithm && header.alg !== "HS256") {',
    tests: ["tests/jwt_test.ts"],
  },
  // Publishing: authorization, origins, CORS.
  {
    name: "publish-one-covered-topic-suffices",
    file: "lib/auth/mercure_auth.ts",
    find: "return topics.every((topic) => selectors.some((selector) => matches(selector, topic)));",
    replace:
      "return topics.some((topic) => selectors.some((selector) => matches(selector, topic)));",
    tests: ["tests/mercure_auth_test.ts", "tests/mercure_publish_refusals_test.ts"],
  },
  {
    name: "publish-cookie-from-any-origin",
    file: "lib/app/cookie_origin.ts",
    find:
      'if (origin === ownOrigin(request) || allowed.includes("*") || allowed.includes(origin)) {',
    replace: "if (origin !== undefined) {",
    tests: ["tests/web_security_test.ts"],
  },
  {
    name: "cors-credentials-for-any-origin",
    file: "lib/app/cors.ts",
    find: 'if (origins.includes("*")) return { allowOrigin: "*", credentials: false };',
    replace: 'if (origins.includes("*")) return { allowOrigin: origin, credentials: true };',
    tests: ["tests/web_security_test.ts"],
  },
  // Limits and slow consumers.
  {
    name: "limits-borrow-past-the-limit",
    file: "lib/hub/connection_budget.ts",
    find: "const grant = Math.min(need, free);",
    replace: "const grant = need;",
    tests: ["tests/limits_exact_test.ts", "tests/connection_budget_test.ts"],
  },
  {
    name: "slow-consumer-never-overflows",
    file: "lib/hub/_subscriber.ts",
    find: "this.overflowedAt = this.#queue[0].seq - 1;",
    replace: "void 0;",
    tests: ["tests/subscription_test.ts", "tests/slow_consumer_test.ts"],
  },
  // History retention (subscription topics keep no log) and the compression window.
  {
    name: "history-ignores-max-age",
    file: "lib/kv/retention.ts",
    find: "const oldestTime = now - policy.maxAgeMs;",
    replace: "const oldestTime = now - policy.maxAgeMs * 1000;",
    tests: ["tests/history_max_age_test.ts"],
  },
  {
    name: "history-subscription-topics-get-logs",
    file: "lib/hub/topic_logs.ts",
    find: "return !topic.startsWith(SUBSCRIPTION_TOPIC_PREFIX);",
    replace: "return true;",
    tests: ["tests/subscription_topic_logs_test.ts"],
  },
  {
    name: "history-old-subscription-marks-stay",
    file: "lib/kv/kv_transport.ts",
    find: "      await dropSubscriptionMarks(this.kv);\n",
    replace: "",
    tests: ["tests/subscription_topic_logs_test.ts"],
  },
  {
    name: "compression-window-grows",
    file: "lib/sse/compression.ts",
    find: "const options = { level: 6, windowBits: 12, memLevel: 4 };",
    replace: "const options = { level: 6, windowBits: 15, memLevel: 4 };",
    tests: ["tests/compression_window_test.ts"],
  },
  // Shutdown.
  {
    name: "shutdown-streams-end-without-a-retry-hint",
    file: "routes/subscribe.ts",
    find: "if (hub.closing.aborted) sink.write(comeBack);",
    replace: "",
    tests: ["tests/shutdown_test.ts"],
  },
  {
    name: "shutdown-streams-are-not-ended",
    file: "main.ts",
    find: "  hub.beginShutdown();",
    replace: "",
    tests: ["tests/shutdown_test.ts"],
  },
];
