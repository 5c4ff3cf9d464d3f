import crypto from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { Webhook } from 'standardwebhooks';
import type {
  NetworkEvent,
  NetworkEventType,
  NetworkPayment,
} from '../payments/network-protocol.ts';
import type { ClearingHouseConfig, ClearingMember } from './config.ts';
import type { Faults } from './faults.ts';

/** Longest wait between two attempts at one delivery. */
const MAX_RETRY_DELAY_MS = 60_000;
/** Bytes of a member's answer read (to see a return request); the rest is ignored. */
const MAX_ANSWER_BYTES = 16_384;

interface DeliveryRow {
  seq: number;
  event_id: string;
  bank_code: string;
  type: string;
  payment_id: string;
  body: string;
  attempts: number;
  copies_left: number;
}

export interface DeliveryAttempt {
  eventId: string;
  bankCode: string;
  type: string;
  paymentId: string;
  at: string;
  outcome: 'delivered' | 'failed';
  httpStatus: number | null;
  error: string | null;
}

export interface DeliveryLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

/** What a member's 2xx answer to `payment.received` may ask for. */
export type AnswerHandler = (bankCode: string, paymentId: string, answer: unknown) => void;

/**
 * Signed event deliveries to member banks (Standard Webhooks), durable in the store: an event
 * is queued in the same transaction as the state change it reports, then sent with retries
 * (doubling from `webhookRetryBaseMs`, at most `webhookMaxAttempts` tries, each bounded by
 * `webhookTimeoutMs`). One delivery per bank is in flight at a time, so without faults a bank
 * sees its events in the order they happened; a delivery waiting for a retry lets later ones
 * pass, as with any real webhook sender.
 */
export class DeliveryQueue {
  readonly #db: DatabaseSync;
  readonly #config: ClearingHouseConfig;
  readonly #faults: Faults;
  readonly #members: ReadonlyMap<string, { member: ClearingMember; signer: Webhook }>;
  readonly #inFlight = new Set<string>();
  readonly #log: DeliveryLogger;
  /** Under `outOfOrderDeliveries`: per bank, the time the current held group is released. */
  readonly #reorderGroups = new Map<string, number>();
  onAnswer: AnswerHandler = () => undefined;

  constructor(db: DatabaseSync, config: ClearingHouseConfig, faults: Faults, log: DeliveryLogger) {
    this.#db = db;
    this.#config = config;
    this.#faults = faults;
    this.#log = log;
    this.#members = new Map(
      config.members.map((member) => [
        member.bankCode,
        { member, signer: new Webhook(member.webhookSecret) },
      ]),
    );
  }

  /** Queues one event for one bank. Events for the sandbox bank are consumed in-process. */
  enqueue(bankCode: string, type: NetworkEventType, payment: NetworkPayment, now = Date.now()) {
    if (!this.#members.has(bankCode)) return;
    const event: NetworkEvent = { type, timestamp: new Date(now).toISOString(), data: payment };
    const settings = this.#faults.settings;
    let dueAt = now;
    if (settings.outOfOrderDeliveries) {
      // Every event of this bank inside one window is held until the window closes, then
      // the group goes out newest first.
      const release = this.#reorderGroups.get(bankCode);
      if (release !== undefined && release > now) dueAt = release;
      else {
        dueAt = now + settings.reorderWindowMs;
        this.#reorderGroups.set(bankCode, dueAt);
      }
    }
    const result = this.#db
      .prepare(
        `INSERT INTO deliveries (event_id, bank_code, type, payment_id, body, status, copies_left,
           due_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
      )
      .run(
        `evt_${crypto.randomUUID()}`,
        bankCode,
        type,
        payment.id,
        JSON.stringify(event),
        settings.duplicateDeliveries ? 2 : 1,
        dueAt,
        event.timestamp,
      );
    const seq = Number(result.lastInsertRowid);
    this.#db
      .prepare('UPDATE deliveries SET order_key = ? WHERE seq = ?')
      .run(settings.outOfOrderDeliveries ? -seq : seq, seq);
  }

  /** Starts the next due delivery of every bank that has none in flight. */
  sendDue(now = Date.now()): void {
    for (const bankCode of this.#members.keys()) {
      if (this.#inFlight.has(bankCode)) continue;
      const row = this.#db
        .prepare(
          `SELECT * FROM deliveries WHERE status = 'pending' AND bank_code = ? AND due_at <= ?
           ORDER BY due_at, order_key LIMIT 1`,
        )
        .get(bankCode, now) as DeliveryRow | undefined;
      if (row === undefined) continue;
      this.#inFlight.add(bankCode);
      this.#send(row)
        .catch((error: unknown) => {
          this.#log.warn({ err: error, eventId: row.event_id }, 'delivery bookkeeping failed');
        })
        .finally(() => this.#inFlight.delete(bankCode));
    }
  }

  async #send(row: DeliveryRow): Promise<void> {
    const entry = this.#members.get(row.bank_code);
    if (entry === undefined) return;
    // Each attempt is signed at the moment it is sent, as Standard Webhooks prescribes: the
    // timestamp is the attempt's, the webhook-id stays the event's.
    const sentAt = new Date();
    const signature = entry.signer.sign(row.event_id, sentAt, row.body);
    let httpStatus: number | null = null;
    let error: string | null = null;
    let answer: unknown;
    try {
      const response = await fetch(entry.member.webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'corebank-clearing-house/1',
          'webhook-id': row.event_id,
          'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body: row.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#config.webhookTimeoutMs),
      });
      httpStatus = response.status;
      const text = (await response.text()).slice(0, MAX_ANSWER_BYTES);
      if (text.length > 0 && /json/.test(response.headers.get('content-type') ?? '')) {
        try {
          answer = JSON.parse(text);
        } catch {
          answer = undefined;
        }
      }
    } catch (cause) {
      error = cause instanceof Error ? cause.message : String(cause);
    }
    const delivered = httpStatus !== null && httpStatus >= 200 && httpStatus < 300;
    this.#db
      .prepare(
        `INSERT INTO delivery_attempts (seq, event_id, bank_code, type, payment_id, at, outcome,
           http_status, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        row.seq,
        row.event_id,
        row.bank_code,
        row.type,
        row.payment_id,
        sentAt.toISOString(),
        delivered ? 'delivered' : 'failed',
        httpStatus,
        error,
      );
    if (delivered) {
      const copiesLeft = row.copies_left - 1;
      this.#db
        .prepare('UPDATE deliveries SET copies_left = ?, status = ? WHERE seq = ?')
        .run(copiesLeft, copiesLeft > 0 ? 'pending' : 'delivered', row.seq);
      if (row.type === 'payment.received' && answer !== undefined) {
        this.onAnswer(row.bank_code, row.payment_id, answer);
      }
      return;
    }
    const attempts = row.attempts + 1;
    if (attempts >= this.#config.webhookMaxAttempts) {
      this.#db
        .prepare(`UPDATE deliveries SET attempts = ?, status = 'failed' WHERE seq = ?`)
        .run(attempts, row.seq);
      this.#log.warn(
        { eventId: row.event_id, bankCode: row.bank_code, attempts, httpStatus, error },
        'webhook delivery given up',
      );
      return;
    }
    const delayMs = Math.min(
      MAX_RETRY_DELAY_MS,
      this.#config.webhookRetryBaseMs * 2 ** (attempts - 1),
    );
    this.#db
      .prepare('UPDATE deliveries SET attempts = ?, due_at = ? WHERE seq = ?')
      .run(attempts, Date.now() + delayMs, row.seq);
  }

  /** Every attempt so far, oldest first (the control endpoint's delivery log). */
  attempts(bankCode?: string): DeliveryAttempt[] {
    const rows = (
      bankCode === undefined
        ? this.#db.prepare('SELECT * FROM delivery_attempts ORDER BY id').all()
        : this.#db
            .prepare('SELECT * FROM delivery_attempts WHERE bank_code = ? ORDER BY id')
            .all(bankCode)
    ) as Array<Record<string, unknown>>;
    return rows.map((row) => ({
      eventId: String(row.event_id),
      bankCode: String(row.bank_code),
      type: String(row.type),
      paymentId: String(row.payment_id),
      at: String(row.at),
      outcome: row.outcome === 'delivered' ? 'delivered' : 'failed',
      httpStatus: row.http_status === null ? null : Number(row.http_status),
      error: row.error === null ? null : String(row.error),
    }));
  }

  /** Deliveries not yet delivered or given up. */
  pendingCount(): number {
    const row = this.#db
      .prepare(`SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'`)
      .get() as { n: number };
    return Number(row.n);
  }
}
