import crypto from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.ts';
import type { Db, Engine } from '../db/database.ts';
import type { CommandBatcher } from '../ledger/batcher.ts';
import type { CommandOutcome, OutcomeError, TransferCommand } from '../ledger/engine.ts';
import type { PaymentsService } from '../payments/payments-service.ts';
import { addDays, nextDueDate, utcDate } from './schedule.ts';
import {
  claimableRuns,
  claimRun,
  completeRun,
  dueOrderIds,
  findOrder,
  insertPendingRun,
  lockOrder,
  type OrderRecord,
  type RunKey,
  updateOrderState,
} from './standing-orders-repository.ts';
import { STOPPING_CODES } from './standing-orders-service.ts';

/**
 * The idempotency key of one run: derived from the order, the due date and the attempt, so
 * every process that ever submits this run submits the same key, and the ledger moves the
 * money at most once (the key is stored in the same transaction as the movement). It
 * contains spaces, which the API's Idempotency-Key header refuses: a customer cannot
 * pre-empt it with a request of their own.
 */
export function runIdempotencyKey(run: RunKey): string {
  return `standing order ${run.orderId} due ${run.dueDate} attempt ${run.attempt}`;
}

/**
 * THE one place a standing order moves money: an ordinary transfer command through the
 * group-commit batcher, exactly as the transfer route submits one, pre-authorised by the
 * PIN the customer gave when creating the order (so it carries none).
 */
export function submitStandingOrderTransfer(
  batcher: CommandBatcher,
  order: OrderRecord,
  run: RunKey,
): Promise<CommandOutcome> {
  const toAccountNumber = order.toAccountNumber;
  if (toAccountNumber === null) throw new Error(`standing order ${order.id} pays another bank`);
  const description = order.description ?? 'Standing order';
  const command: TransferCommand = {
    kind: 'transfer',
    actor: { userId: order.userId, sessionId: `standing-order:${order.id}`, roles: ['customer'] },
    clientIp: null,
    amountMinor: order.amountMinor,
    currency: order.currency,
    description,
    idempotency: {
      key: runIdempotencyKey(run),
      requestHash: crypto
        .createHash('sha256')
        .update(
          JSON.stringify([
            'standing-order',
            order.accountNumber,
            toAccountNumber,
            `${order.amountMinor}`,
            order.currency,
            description,
          ]),
        )
        .digest('base64url'),
    },
    accountNumber: order.accountNumber,
    toAccountNumber,
    pin: null,
    preAuthorisedBy: { standingOrderId: order.id },
  };
  return batcher.submit(command);
}

/** What a run did: the transfer or payment it made, or why it was refused. */
export type RunOutcome =
  | { ok: true; transactionId: string | null; paymentId: string | null }
  | { ok: false; error: OutcomeError };

/**
 * A run of an order to another bank: an outbound payment made by the payments service
 * (hold, pending payment, then the dispatcher submits it to the network), under the run's
 * idempotency key. The payment id is the network's instruction id, and one key makes one
 * payment, so a run reaches the network once however often it is retried.
 */
export async function submitStandingOrderPayment(
  payments: PaymentsService,
  order: OrderRecord,
  run: RunKey,
): Promise<RunOutcome> {
  if (order.beneficiary === null) throw new Error(`standing order ${order.id} has no beneficiary`);
  const made = await payments.payForStandingOrder({
    id: order.id,
    userId: order.userId,
    accountNumber: order.accountNumber,
    amountMinor: order.amountMinor,
    currency: order.currency,
    beneficiary: order.beneficiary,
    reference: order.description ?? 'Standing order',
    idempotencyKey: runIdempotencyKey(run),
  });
  return made.ok ? { ok: true, transactionId: null, paymentId: made.payment.id } : made;
}

export interface SchedulerDeps {
  db: Db;
  engine: Engine;
  batcher: CommandBatcher;
  /** Makes the runs of orders to other banks (src/payments/). */
  payments: PaymentsService;
  /** The scheduler's clock: tests pass their own and call `runDue` instead of waiting. */
  clock: () => Date;
  options: Config['standingOrders'];
  log: FastifyBaseLogger;
}

/** Orders materialised and runs claimed per pass: bounded work per tick. */
const PASS_LIMIT = 100;
/** Due dates one order may catch up on in one pass (a server down for a long time). */
const CATCH_UP_LIMIT = 366;

export interface PassResult {
  /** Runs this process claimed and finished in this pass. */
  ran: number;
}

/**
 * Runs standing orders inside the server. Each pass (every `pollIntervalMs`, or when a test
 * calls `runDue`):
 *
 * 1. For each active order whose next due date has come, under the order's row lock, write
 *    one pending run per due date up to today and move the next due date on. The run's
 *    primary key (order, due date, attempt) means a due date is written once, whatever the
 *    number of processes.
 * 2. Claim pending runs whose day has come by taking a lease with a conditional UPDATE
 *    (exactly one process gets the row), submit the transfer with the run's idempotency
 *    key, and record the outcome while still holding the lease.
 *
 * A process that dies after the transfer committed but before recording it leaves a
 * pending run with a lease that runs out; whoever claims it next submits the same key and
 * gets the stored outcome back instead of moving the money again. So each due date moves
 * money exactly once across restarts and processes.
 *
 * A run refused for lack of funds is recorded as failed and retried once, the next day (a
 * second attempt with its own key). A locked customer or a frozen account stops the order.
 */
export class StandingOrderScheduler {
  readonly #deps: SchedulerDeps;
  /** This process's lease owner name. */
  readonly owner = crypto.randomUUID();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
  }

  start(): void {
    if (this.#timer !== null) return;
    const tick = () => {
      if (this.#running !== null) return;
      this.#running = this.runDue()
        .catch((error: unknown) =>
          this.#deps.log.error({ err: error }, 'standing-order pass failed'),
        )
        .finally(() => {
          this.#running = null;
        });
    };
    this.#timer = setInterval(tick, this.#deps.options.pollIntervalMs);
    this.#timer.unref();
    // The first pass runs soon after start, not one interval later.
    setImmediate(tick);
  }

  /** Stops the timer and waits for a pass in progress to finish. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  async runDue(now: Date = this.#deps.clock()): Promise<PassResult> {
    const { db } = this.#deps;
    const today = utcDate(now);
    const nowIso = now.toISOString();
    for (const id of await dueOrderIds(db, today, PASS_LIMIT)) {
      await this.#materialise(id, today, nowIso);
    }
    const leaseUntil = new Date(now.getTime() + this.#deps.options.leaseMs).toISOString();
    const claimed: RunKey[] = [];
    for (const run of await claimableRuns(db, today, nowIso, PASS_LIMIT)) {
      if (await claimRun(db, run, this.owner, leaseUntil, nowIso)) claimed.push(run);
    }
    // Submitted together, so the batcher can commit them in few transactions.
    const results = await Promise.allSettled(
      claimed.map((run) => this.#execute(run, today, nowIso)),
    );
    let ran = 0;
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') {
        if (result.value) ran += 1;
        return;
      }
      // The lease stays: the run is taken up again when it runs out.
      this.#deps.log.error({ err: result.reason, run: claimed[i] }, 'standing-order run failed');
    });
    return { ran };
  }

  async #materialise(id: string, today: string, nowIso: string): Promise<void> {
    const { db, engine } = this.#deps;
    await db.transaction().execute(async (trx) => {
      // SKIP LOCKED: another process materialising this order right now will do it.
      const order = await lockOrder(trx, engine, id, { skipLocked: true });
      if (order === null || order.status !== 'active' || order.next_due_date === null) return;
      let due = order.next_due_date;
      for (let n = 0; n < CATCH_UP_LIMIT && due <= today; n++) {
        if (order.end_date !== null && due > order.end_date) break;
        await insertPendingRun(trx, { orderId: id, dueDate: due, attempt: 1, runOn: due }, nowIso);
        due = nextDueDate(order.frequency, order.start_date, due);
      }
      const finished = order.end_date !== null && due > order.end_date;
      await updateOrderState(
        trx,
        id,
        { status: finished ? 'completed' : 'active', nextDueDate: finished ? null : due },
        nowIso,
      );
    });
  }

  /** A transfer to one of our accounts, or a payment to another bank. */
  async #submit(order: OrderRecord, run: RunKey): Promise<RunOutcome> {
    if (order.beneficiary !== null) {
      return submitStandingOrderPayment(this.#deps.payments, order, run);
    }
    const outcome = await submitStandingOrderTransfer(this.#deps.batcher, order, run);
    return outcome.ok
      ? { ok: true, transactionId: outcome.transaction.id, paymentId: null }
      : { ok: false, error: outcome.error };
  }

  /** Runs one claimed run; true when this process recorded its outcome. */
  async #execute(run: RunKey, today: string, nowIso: string): Promise<boolean> {
    const { db, engine, options } = this.#deps;
    const order = await findOrder(db, run.orderId);
    if (order === null) throw new Error(`standing order ${run.orderId} is missing`);
    if (order.status === 'cancelled' || order.status === 'stopped') {
      // A pending run (a retry, a catch-up) of an order that ended runs no more.
      const reason = order.status === 'cancelled' ? 'ORDER_CANCELLED' : 'ORDER_STOPPED';
      return db.transaction().execute((trx) =>
        completeRun(
          trx,
          run,
          this.owner,
          {
            status: 'failed',
            transactionId: null,
            paymentId: null,
            reason,
            detail: `the order was ${order.status} before this run`,
          },
          nowIso,
        ),
      );
    }
    const outcome = await this.#submit(order, run);
    if (options.fault === 'crash-after-transfer') {
      // Tests only (refused in production): die between the commit of the money and the
      // record of the run, the worst moment, to prove the restart completes it once.
      process.kill(process.pid, 'SIGKILL');
    }
    return db.transaction().execute(async (trx) => {
      const recorded = await completeRun(
        trx,
        run,
        this.owner,
        outcome.ok
          ? {
              status: 'done',
              transactionId: outcome.transactionId,
              paymentId: outcome.paymentId,
              reason: null,
              detail: null,
            }
          : {
              status: 'failed',
              transactionId: null,
              paymentId: null,
              reason: outcome.error.code,
              detail: outcome.error.message,
            },
        nowIso,
      );
      // Our lease ran out and another process recorded the run: nothing more to do here.
      if (!recorded || outcome.ok) return recorded;
      if (outcome.error.code === 'INSUFFICIENT_FUNDS' && run.attempt === 1) {
        await insertPendingRun(
          trx,
          { orderId: run.orderId, dueDate: run.dueDate, attempt: 2, runOn: addDays(today, 1) },
          nowIso,
        );
      } else if (STOPPING_CODES.has(outcome.error.code)) {
        const locked = await lockOrder(trx, engine, run.orderId, { skipLocked: false });
        if (locked?.status === 'active' || locked?.status === 'completed') {
          await updateOrderState(
            trx,
            run.orderId,
            { status: 'stopped', nextDueDate: null, stopReason: outcome.error.code },
            nowIso,
          );
        }
      }
      return true;
    });
  }
}
