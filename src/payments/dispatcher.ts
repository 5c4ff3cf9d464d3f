import crypto from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/database.ts';
import { paymentChanged } from '../events/event-data.ts';
import { appendEvent } from '../events/outbox.ts';
import { formatMinor } from '../money/money.ts';
import type { PaymentNetworkClient } from './network-client.ts';
import {
  claimDuePayments,
  deferPayment,
  findPayment,
  markSubmitted,
  type PaymentRecord,
  toPaymentView,
} from './payments-repository.ts';
import type { PaymentsService } from './payments-service.ts';

export interface DispatcherOptions {
  intervalMs: number;
  /** How long one process may work on a payment before another may take it over. */
  leaseMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** After this long without the network taking it, the payment fails (hold voided). */
  giveUpMs: number;
}

const PASS_LIMIT = 50;

/**
 * Submits pending outbound payments to the network. Its state is the payments table, so it
 * survives restarts: a payment is `pending` until the network took it. A process claims a
 * payment with a conditional update of its lease, so one submitter works on it at a time;
 * the payment id is the network's instruction id, so a resubmission after a crash or a
 * timeout is answered as the first one and the payment reaches the network once.
 */
export class PaymentDispatcher {
  readonly #db: Db;
  readonly #client: PaymentNetworkClient;
  readonly #payments: PaymentsService;
  readonly #options: DispatcherOptions;
  readonly #log: FastifyBaseLogger;
  readonly owner = crypto.randomUUID();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;

  constructor(deps: {
    db: Db;
    client: PaymentNetworkClient;
    payments: PaymentsService;
    options: DispatcherOptions;
    log: FastifyBaseLogger;
  }) {
    this.#db = deps.db;
    this.#client = deps.client;
    this.#payments = deps.payments;
    this.#options = deps.options;
    this.#log = deps.log;
  }

  start(): void {
    if (this.#timer !== null) return;
    const tick = () => {
      if (this.#running !== null) return;
      this.#running = this.runOnce()
        .catch((error: unknown) => this.#log.error({ err: error }, 'payment dispatch failed'))
        .finally(() => {
          this.#running = null;
        });
    };
    this.#timer = setInterval(tick, this.#options.intervalMs);
    this.#timer.unref();
    setImmediate(tick);
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** One pass over the due payments; the number submitted. */
  async runOnce(now: Date = new Date()): Promise<number> {
    const at = now.toISOString();
    const leaseUntil = new Date(now.getTime() + this.#options.leaseMs).toISOString();
    let submitted = 0;
    for (const payment of await claimDuePayments(this.#db, at, leaseUntil, PASS_LIMIT)) {
      if (await this.#submit(payment, now)) submitted += 1;
    }
    return submitted;
  }

  async #submit(payment: PaymentRecord, now: Date): Promise<boolean> {
    const result = await this.#client.submitPayment({
      instructionId: payment.id,
      amount: formatMinor(payment.amountMinor, payment.currency),
      currency: payment.currency,
      debtor: { accountNumber: payment.accountNumber, name: payment.accountNumber },
      creditor: {
        bankCode: payment.counterpartyBankCode,
        accountNumber: payment.counterpartyAccount,
        name: payment.counterpartyName,
      },
      ...(payment.reference === null ? {} : { reference: payment.reference }),
    });
    if (result.ok) {
      // The status and its outbox event, in one transaction.
      await this.#db.transaction().execute(async (trx) => {
        const changed = await markSubmitted(trx, {
          id: payment.id,
          networkPaymentId: result.value.payment.id,
          now: new Date().toISOString(),
        });
        const submitted = changed === 1n ? await findPayment(trx, payment.id) : null;
        if (submitted !== null) await appendEvent(trx, paymentChanged(toPaymentView(submitted)));
      });
      return true;
    }
    const { failure } = result;
    if (failure.kind === 'refused') {
      await this.#payments.release(payment.id, 'failed', `network refused: ${failure.code}`);
      return false;
    }
    const age = now.getTime() - Date.parse(payment.createdAt);
    if (age >= this.#options.giveUpMs) {
      await this.#payments.release(payment.id, 'failed', `network unreachable: ${failure.detail}`);
      return false;
    }
    const attempts = Number(payment.submitAttempts);
    const delay = Math.min(
      this.#options.retryMaxMs,
      this.#options.retryBaseMs * 2 ** Math.min(attempts - 1, 20),
    );
    this.#log.warn(
      { payment: payment.id, failure: failure.kind, delay },
      'payment submit deferred',
    );
    await deferPayment(this.#db, payment.id, new Date(now.getTime() + delay).toISOString());
    return false;
  }
}
