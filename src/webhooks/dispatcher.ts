import type { Db } from '../db/database.ts';
import { ConsumerLease } from '../events/consumer-lease.ts';
import { readEventsAfter } from '../events/outbox.ts';
import { decryptWebhookSecret } from './secrets.ts';
import { sendWebhook } from './sender.ts';
import { webhookHeaders } from './signing.ts';
import {
  claimDelivery,
  type DueDelivery,
  findDueDeliveries,
  insertDeliveries,
  listEndpoints,
  recordAttempt,
} from './webhooks-repository.ts';

export const WEBHOOK_CONSUMER = 'webhooks';

export interface WebhookPolicy {
  allowList: ReadonlySet<string>;
  timeoutMs: number;
  maxResponseBytes: number;
  /** First retry delay; each later one doubles, up to `retryMaxMs`, with ±50 % jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Attempts per delivery before it is given up (`failed`). */
  maxAttempts: number;
  /** Failed attempts in a row (any event) after which the endpoint is disabled. */
  disableAfterFailures: number;
}

export interface DispatcherOptions {
  db: Db;
  secretKey: Buffer;
  policy: WebhookPolicy;
  pollIntervalMs: number;
  leaseMs: number;
  log: {
    info(details: Record<string, unknown>, message: string): void;
    warn(details: Record<string, unknown>, message: string): void;
  };
}

const FAN_OUT_BATCH = 500;
const DELIVERY_BATCH = 100;

/** Delay before attempt `attempt + 1`, after `attempt` failures: exponential, jittered. */
export function retryDelayMs(policy: WebhookPolicy, attempt: number, random = Math.random()) {
  const exponential = Math.min(policy.retryBaseMs * 2 ** (attempt - 1), policy.retryMaxMs);
  return Math.round(exponential * (0.5 + random));
}

/**
 * Sends the outbox to webhook endpoints. One process at a time (the `webhooks` lease) fans
 * each new event out into one delivery row per matching endpoint, in sequence order, and
 * sends due deliveries: each endpoint's in sequence order, endpoints side by side. A
 * failed attempt is retried later with a growing, jittered delay; an endpoint that fails
 * `disableAfterFailures` times in a row is disabled. Delivery is at least once (a process
 * that dies between sending and recording sends again); `webhook-id` is the event id, so
 * receivers drop repeats.
 */
export class WebhookDispatcher {
  readonly #options: DispatcherOptions;
  readonly #lease: ConsumerLease;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #holds = false;
  readonly stats = { attempts: 0, failures: 0, disabled: 0 };

  constructor(options: DispatcherOptions) {
    this.#options = options;
    this.#lease = new ConsumerLease(options.db, WEBHOOK_CONSUMER, options.leaseMs);
  }

  start(): void {
    this.#timer = setInterval(() => this.kick(), this.#options.pollIntervalMs);
    this.#timer.unref();
  }

  kick(): void {
    if (this.#stopped || this.#running !== undefined) return;
    this.#running = this.#pass()
      .catch((error: unknown) =>
        this.#options.log.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'webhook pass failed',
        ),
      )
      .finally(() => {
        this.#running = undefined;
      });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#running;
    if (this.#holds) await this.#lease.release().catch(() => undefined);
  }

  async #pass(): Promise<void> {
    this.#holds = await this.#lease.acquire();
    if (!this.#holds) return;
    await this.#fanOut();
    await this.#deliverDue();
  }

  async #fanOut(): Promise<void> {
    const { db } = this.#options;
    const position = await this.#lease.position();
    const events = await readEventsAfter(db, position, FAN_OUT_BATCH);
    const last = events.at(-1);
    if (last === undefined) return;
    const endpoints = (await listEndpoints(db)).filter((e) => e.status === 'enabled');
    const rows: Array<{ endpointId: string; sequence: bigint }> = [];
    for (const event of events) {
      for (const endpoint of endpoints) {
        const wanted = endpoint.eventTypes.length === 0 || endpoint.eventTypes.includes(event.type);
        // An endpoint hears of what happens after it was created, not of the past.
        if (wanted && event.time >= endpoint.createdAt) {
          rows.push({ endpointId: endpoint.id, sequence: BigInt(event.sequence) });
        }
      }
    }
    await insertDeliveries(db, rows, new Date().toISOString());
    await this.#lease.advance(BigInt(last.sequence));
  }

  async #deliverDue(): Promise<void> {
    const due = await findDueDeliveries(this.#options.db, new Date().toISOString(), DELIVERY_BATCH);
    const byEndpoint = new Map<string, DueDelivery[]>();
    for (const delivery of due) {
      const list = byEndpoint.get(delivery.endpoint.id) ?? [];
      list.push(delivery);
      byEndpoint.set(delivery.endpoint.id, list);
    }
    const { db, policy, leaseMs } = this.#options;
    const started = performance.now();
    await Promise.all(
      [...byEndpoint.values()].map(async (deliveries) => {
        for (const delivery of deliveries) {
          // A pass ends well within the lease, so the next pass renews it before another
          // process could take over and send the same endpoint's deliveries out of order.
          if (performance.now() - started > leaseMs / 2) break;
          const now = new Date();
          const claimUntil = new Date(now.getTime() + policy.timeoutMs + leaseMs);
          if (
            !(await claimDelivery(db, delivery.id, now.toISOString(), claimUntil.toISOString()))
          ) {
            continue;
          }
          // After a failure, the endpoint's later deliveries wait for the next pass.
          if (!(await this.#attempt(delivery))) break;
        }
      }),
    );
  }

  async #attempt(delivery: DueDelivery): Promise<boolean> {
    const { db, secretKey, policy, log } = this.#options;
    const { endpoint, event } = delivery;
    const attempt = delivery.attempts + 1;
    const body = JSON.stringify(event);
    const secret = decryptWebhookSecret(secretKey, endpoint.id, endpoint.secretCiphertext);
    const headers = webhookHeaders(secret, event.id, Math.floor(Date.now() / 1000), body);
    let responseStatus: number | null = null;
    let error: string | null = null;
    let durationMs = 0;
    const started = performance.now();
    try {
      const result = await sendWebhook(new URL(endpoint.url), headers, body, policy);
      responseStatus = result.status;
      durationMs = result.durationMs;
    } catch (caught) {
      error = caught instanceof Error ? caught.message : String(caught);
      durationMs = Math.round(performance.now() - started);
    }
    const succeeded = responseStatus !== null && responseStatus >= 200 && responseStatus < 300;
    if (!succeeded && error === null) error = `answered ${responseStatus}`;
    const now = new Date();
    const nextAttemptAt =
      succeeded || attempt >= policy.maxAttempts
        ? null
        : new Date(now.getTime() + retryDelayMs(policy, attempt)).toISOString();
    this.stats.attempts += 1;
    if (!succeeded) this.stats.failures += 1;
    const disabled = await recordAttempt(db, {
      deliveryId: delivery.id,
      endpointId: endpoint.id,
      eventId: event.id,
      attempt,
      succeeded,
      responseStatus,
      error,
      durationMs,
      nextAttemptAt,
      disableAfterFailures: policy.disableAfterFailures,
      now: now.toISOString(),
    });
    if (disabled) {
      this.stats.disabled += 1;
      log.warn({ endpointId: endpoint.id }, 'webhook endpoint disabled after failing repeatedly');
    } else if (!succeeded) {
      log.info(
        { endpointId: endpoint.id, eventId: event.id, attempt, error },
        'webhook attempt failed',
      );
    }
    return succeeded;
  }
}
