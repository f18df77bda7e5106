/**
 * Publishers of the load tool: build each target's publish request and send them at a fixed rate
 * or as fast as the hub accepts, over a bounded number of keep-alive connections. Every payload is
 * `"<seq> <sendTimeMs>"` (plus padding), with one sequence per topic.
 *
 * @module
 */

import { type HistogramSnapshot, LatencyHistogram } from "./histogram.ts";
import { HttpConnection } from "./http_client.ts";
import { nowMs } from "./sse_subscriber.ts";

/** Which hub protocol to speak. */
export type TargetKind = "tidings" | "nchan";

/** What and how to publish. */
export interface PublishPlan {
  kind: TargetKind;
  host: string;
  port: number;
  /** Bearer token (tidings). */
  token?: string;
  topics: string[];
  /** Concurrent publisher connections. */
  concurrency: number;
  /** Publishes per second over all topics; 0 = as fast as the hub accepts. */
  rate: number;
  /** Stop after this long (ms)... */
  durationMs: number;
  /** ...or after this many publishes, whichever comes first. */
  maxCount: number;
  /** Payload bytes beyond the sequence number and timestamp. */
  paddingBytes: number;
  /** Publish the warm-up marker `w` instead of numbered events (one per topic). */
  warmup?: boolean;
}

/** What the publishers did. */
export interface PublishResult {
  /** Accepted publishes per topic (index as in `topics`). */
  okPerTopic: number[];
  ok: number;
  failed: number;
  /** A few failure descriptions, with counts. */
  errors: Record<string, number>;
  startedAt: number;
  endedAt: number;
  /** Request→response latency of the publishes. */
  latency: HistogramSnapshot;
  /** Rate mode: publishes that left more than 5 ms after their schedule. */
  late: number;
  /** Publisher ids (`200` body from tidings, `last message id` from nchan) are not kept. */
  lastId?: string;
}

const encoder = new TextEncoder();

/**
 * Builds the raw HTTP/1.1 request that publishes `data` to `topic`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { publishRequest } from "./publisher.ts";
 * const bytes = publishRequest("nchan", "127.0.0.1", 8080, "news", "1 2", undefined);
 * assert.ok(new TextDecoder().decode(bytes).startsWith("POST /pub?id=news HTTP/1.1"));
 * ```
 */
export function publishRequest(
  kind: TargetKind,
  host: string,
  port: number,
  topic: string,
  data: string,
  token: string | undefined,
): Uint8Array {
  let head: string;
  let body: string;
  if (kind === "tidings") {
    body = `topic=${encodeURIComponent(topic)}&data=${encodeURIComponent(data)}`;
    head =
      `POST /.well-known/mercure HTTP/1.1\r\nHost: ${host}:${port}\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`;
  } else {
    body = data;
    head = `POST /pub?id=${encodeURIComponent(topic)} HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
      `Content-Type: text/plain\r\nContent-Length: ${encoder.encode(body).length}\r\n\r\n`;
  }
  return encoder.encode(head + body);
}

/**
 * Whether a publish response means "accepted".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { accepted } from "./publisher.ts";
 * assert.ok(accepted("nchan", 202) && accepted("tidings", 200) && !accepted("tidings", 202));
 * ```
 */
export function accepted(kind: TargetKind, status: number): boolean {
  return kind === "tidings" ? status === 200 : status === 201 || status === 202;
}

/**
 * Runs a publish plan to the end and reports.
 *
 * @example
 * ```ts ignore
 * import { runPublishers } from "./publisher.ts";
 * const result = await runPublishers({ kind: "nchan", host: "127.0.0.1", port: 8080, topics: ["a"],
 *   concurrency: 1, rate: 20, durationMs: 1000, maxCount: 20, paddingBytes: 0 });
 * ```
 */
export async function runPublishers(plan: PublishPlan): Promise<PublishResult> {
  const topicCount = plan.topics.length;
  const nextSeq = new Array<number>(topicCount).fill(0);
  const okPerTopic = new Array<number>(topicCount).fill(0);
  const padding = plan.paddingBytes > 0 ? " " + "x".repeat(Math.max(0, plan.paddingBytes - 1)) : "";
  const latency = new LatencyHistogram();
  const errors: Record<string, number> = {};
  const result = { ok: 0, failed: 0, late: 0, lastId: undefined as string | undefined };
  const maxCount = plan.warmup ? topicCount : plan.maxCount;
  const startedAt = nowMs();
  const deadline = startedAt + plan.durationMs;
  let issued = 0;

  const publishOne = async (connection: HttpConnection, index: number) => {
    const topic = index % topicCount;
    const sentAt = nowMs();
    const data = plan.warmup ? "w" : `${nextSeq[topic]++} ${sentAt.toFixed(3)}${padding}`;
    const request = publishRequest(
      plan.kind,
      plan.host,
      plan.port,
      plan.topics[topic],
      data,
      plan.token,
    );
    try {
      const response = await connection.send(request);
      latency.record(nowMs() - sentAt);
      if (accepted(plan.kind, response.status)) {
        okPerTopic[topic]++;
        result.ok++;
        if (plan.kind === "tidings") result.lastId = response.body;
      } else {
        result.failed++;
        const key = `HTTP ${response.status}: ${response.body.slice(0, 120)}`;
        errors[key] = (errors[key] ?? 0) + 1;
      }
    } catch (error) {
      result.failed++;
      const key = String((error as Error)?.message ?? error).slice(0, 120);
      errors[key] = (errors[key] ?? 0) + 1;
    }
  };

  const worker = async () => {
    const connection = new HttpConnection(plan.host, plan.port);
    try {
      while (issued < maxCount && nowMs() < deadline) {
        const index = issued++;
        if (plan.rate > 0 && !plan.warmup) {
          const due = startedAt + (index * 1000) / plan.rate;
          const wait = due - nowMs();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          else if (wait < -5) result.late++;
          if (nowMs() >= deadline + 1000) break;
        }
        await publishOne(connection, index);
      }
    } finally {
      connection.close();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, plan.concurrency) }, worker));
  return {
    okPerTopic,
    ok: result.ok,
    failed: result.failed,
    errors,
    startedAt,
    endedAt: nowMs(),
    latency: latency.snapshot(),
    late: result.late,
    lastId: result.lastId,
  };
}
