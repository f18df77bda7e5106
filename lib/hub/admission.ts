/**
 * Admission: what happens between "this request may subscribe to these selectors" and the first
 * byte of its stream, whichever transport carries it (an event stream, `/feeds/…`, a WebSocket).
 *
 * - the connection limits (the process's {@link ConnectionBudget}, exact across isolates);
 * - the private-update rule (a subscriber sees a private update only if its token's
 *   `mercure.subscribe` matches one of the update's topics) and the `?filter=` predicate;
 * - the active-subscription records and their Mercure subscription events;
 * - the subscription's end: on shutdown, when its token expires, or when the transport is done.
 *
 * Routes decide *what* is asked (selectors, token, resume point) and turn a refusal into HTTP;
 * this module decides whether and how it runs.
 *
 * @module
 */

import { openSubscription } from "./active_subscriptions.ts";
import type { BudgetRefusal, ConnectionBudget } from "./connection_budget.ts";
import type { Hub } from "./hub.ts";
import type { SubscriptionOptions } from "./_subscription.ts";
import type { StoredUpdate, UpdatePredicate } from "./update.ts";
import type { MercureClaims } from "../auth/mercure_auth.ts";
import type { SelectorSet } from "../topics/mod.ts";
import { mayReceive } from "./_visibility.ts";
import { log } from "../util/logger.ts";

/** What a subscription asks for, decided by its route. */
export interface SubscriptionPlan {
  selectors: SelectorSet;
  /** The subscriber's token claims; `undefined` for an anonymous subscriber. */
  claims: MercureClaims | undefined;
  /** Replay after this position; undefined = live only. */
  afterSeq?: number;
  /** What the request asked to resume from (the `Last-Event-ID` answer), when it did. */
  resumedFrom?: string;
  /** Extra data for the active-subscription records (e.g. the chat user name). */
  payload?: unknown;
  /** Ends the stream after this update. */
  isFinal?: (update: StoredUpdate) => boolean;
}

/** One request to admit. */
export interface AdmissionRequest {
  plan: SubscriptionPlan;
  /** The client's address (for the per-address limit). */
  ip: string;
  /** Conflate to one batch per this many ms (`?throttle=`). */
  throttleMs?: number;
  /** Server-side data filter (`?filter=`). */
  filter?: UpdatePredicate;
}

/** What admission reports, for metrics. */
export interface AdmissionObserver {
  opened(ip: string): void;
  closed(ip: string): void;
  refused(reason: BudgetRefusal, ip: string): void;
  delivered(count: number): void;
  stalled(ip: string): void;
}

/** Options of {@link Admission}. */
export interface AdmissionOptions {
  hub: Hub;
  budget: ConnectionBudget;
  /** Publish subscription events and keep the subscriptions API's records. */
  subscriptionEvents: boolean;
  /** Bound of a subscriber's queue, bytes. */
  subscriberBufferBytes: number;
  observer?: AdmissionObserver;
}

/** A subscription admitted and registered, ready for a transport. */
export interface AdmittedSubscription {
  /** The subscriber's id (its active-subscription records name it). */
  readonly subscriber: string;
  /**
   * Options for `hub.subscribe*()`, given how the transport drops the connection at once (a
   * stalled client). Their signal aborts at shutdown, at token expiry and on `release()`. Asking
   * for them starts the subscription: its active-subscription records are written then.
   */
  options(drop: () => void): SubscriptionOptions;
  /** Ends the subscription, releases the connection slot and ends the active-subscription records. */
  release(): void;
}

/** A subscription that was not admitted, and why. */
export interface AdmissionRefusal {
  refused: BudgetRefusal;
}

const NO_OBSERVER: AdmissionObserver = {
  opened() {},
  closed() {},
  refused() {},
  delivered() {},
  stalled() {},
};

/** The selectors of a set as given (exact topics, then patterns). */
export function selectorSources(selectors: SelectorSet): string[] {
  return [...selectors.exactTopics, ...selectors.patterns.map((pattern) => pattern.source)];
}

/** Admits subscriptions into one isolate's hub. */
export class Admission {
  readonly #hub: Hub;
  readonly #budget: ConnectionBudget;
  readonly #subscriptionEvents: boolean;
  readonly #bufferBytes: number;
  readonly #observer: AdmissionObserver;

  constructor(options: AdmissionOptions) {
    this.#hub = options.hub;
    this.#budget = options.budget;
    this.#subscriptionEvents = options.subscriptionEvents;
    this.#bufferBytes = options.subscriberBufferBytes;
    this.#observer = options.observer ?? NO_OBSERVER;
  }

  /**
   * Admits a subscription, or says why not (a connection limit, or limits that cannot be checked
   * now). Nothing is recorded for a refused subscription, nor for one released before it starts.
   */
  async admit(request: AdmissionRequest): Promise<AdmittedSubscription | AdmissionRefusal> {
    const { plan, ip, throttleMs, filter } = request;
    const hub = this.#hub;
    const budget = this.#budget;
    const observer = this.#observer;
    const refusal = budget.tryAdmit(ip) ? undefined : await budget.admit(ip);
    if (refusal !== undefined) {
      observer.refused(refusal, ip);
      log("warn", "connection refused", { reason: refusal, ip });
      return { refused: refusal };
    }
    observer.opened(ip);
    const { claims } = plan;
    const accepts = (update: StoredUpdate) =>
      mayReceive(claims, update) && (filter === undefined || filter(update));
    const subscriber = `urn:uuid:${crypto.randomUUID()}`;
    // Recorded when the stream starts (not for a subscription released unused), and in the
    // background: the stream does not wait for these writes.
    const ends: Array<Promise<() => Promise<void>>> = [];
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      // Chat presence reads these records too, so a named chat viewer is recorded either way.
      if (!this.#subscriptionEvents && plan.payload === undefined) return;
      for (const selector of selectorSources(plan.selectors)) {
        ends.push(
          openSubscription(hub, selector, subscriber, plan.payload).catch(() => () =>
            Promise.resolve()
          ),
        );
      }
    };
    // Graceful stops (shutdown, token expiry) end the subscription, and the stream after what it
    // already wrote; plain listeners and one timer, no composite signals held per connection.
    const stop = new AbortController();
    const stopNow = () => stop.abort();
    const forgetClosing = hub.onClosing(stopNow);
    let expiry: ReturnType<typeof setTimeout> | undefined;
    if (claims?.exp !== undefined) {
      const left = Math.max(0, claims.exp * 1000 - Date.now());
      // setTimeout cannot wait past 2^31 - 1 ms (~24.8 days); such a token outlives the process.
      if (left < 2 ** 31 - 1) Deno.unrefTimer(expiry = setTimeout(stopNow, left));
    }
    log("info", "connection opened", {
      selectors: selectorSources(plan.selectors),
      ip,
      resume: plan.resumedFrom,
    });
    const bufferBytes = this.#bufferBytes;
    let released = false;
    return {
      subscriber,
      options: (drop) => {
        record();
        return {
          selectors: plan.selectors,
          afterSeq: plan.afterSeq,
          accepts,
          signal: stop.signal,
          throttleMs,
          maxQueuedBytes: bufferBytes,
          isFinal: plan.isFinal,
          onSent: (count) => observer.delivered(count),
          onStalled: () => {
            observer.stalled(ip);
            log("info", "slow consumer disconnected", { ip });
            drop();
          },
        };
      },
      release: () => {
        if (released) return;
        released = true;
        // The transport is done (client gone, dropped or ended): so is the subscription.
        stop.abort();
        clearTimeout(expiry);
        forgetClosing();
        observer.closed(ip);
        budget.release(ip);
        for (const end of ends) end.then((close) => close()).catch(() => {});
        log("info", "connection closed", { ip });
      },
    };
  }
}
