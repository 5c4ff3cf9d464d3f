import crypto from 'node:crypto';
import { accountNumberProblem } from '../accounts/account-number.ts';
import { hasRole, isReadingStaff, type Principal } from '../auth/roles.ts';
import type { Db, Engine } from '../db/database.ts';
import { CorebankError, type ErrorCode } from '../errors.ts';
import { refusalError } from '../ledger/commands/command.ts';
import { checkPinInTransaction } from '../ledger/pin-check.ts';
import { formatMinor, minorFromMajorUnits, parseAmount } from '../money/money.ts';
import { type Beneficiary, checkBeneficiary } from '../payments/payments-service.ts';
import { type Frequency, isCalendarDate, utcDate } from './schedule.ts';
import {
  countActiveOrders,
  findOrder,
  findOrderAccount,
  insertOrder,
  listFinishedRuns,
  listOrdersOfAccount,
  lockOrder,
  type OrderRecord,
  type RunRecord,
  updateOrderState,
} from './standing-orders-repository.ts';

export interface StandingOrderView {
  id: string;
  accountNumber: string;
  /** One of our accounts, or null when the order pays `beneficiary` at another bank. */
  toAccount: string | null;
  beneficiary: Beneficiary | null;
  amount: string;
  currency: string;
  frequency: Frequency;
  startDate: string;
  endDate: string | null;
  description: string | null;
  status: OrderRecord['status'];
  /** Why the bank stopped the order (a frozen account, a locked customer), else null. */
  stopReason: string | null;
  nextDueDate: string | null;
  createdAt: string;
}

export interface RunView {
  dueDate: string;
  attempt: number;
  status: 'done' | 'failed';
  transactionId?: string;
  /** The outbound payment a run of an order to another bank made, and its status now. */
  paymentId?: string;
  paymentStatus?: string;
  reason?: string;
  detail?: string;
  ranAt: string | null;
}

export interface CreateOrderRequest {
  toAccount?: string | undefined;
  beneficiary?: Beneficiary | undefined;
  amount: unknown;
  frequency: Frequency;
  startDate: string;
  endDate?: string | undefined;
  pin: string;
  description?: string | undefined;
}

/** Active standing orders one account may have: every collection has a bound. */
export const MAX_ACTIVE_ORDERS_PER_ACCOUNT = 20;
const LIST_LIMIT = 100;

export interface StandingOrdersServiceDeps {
  db: Db;
  engine: Engine;
  pinPepper: Buffer;
  pinMaxAttempts: number;
  maxAmountMajor: bigint;
  /** The scheduler's clock: "today" for the start date check. */
  clock: () => Date;
  /** This bank's code: a beneficiary must be at another bank. */
  bankCode: string;
}

export function toOrderView(order: OrderRecord): StandingOrderView {
  return {
    id: order.id,
    accountNumber: order.accountNumber,
    toAccount: order.toAccountNumber,
    beneficiary: order.beneficiary,
    amount: formatMinor(order.amountMinor, order.currency),
    currency: order.currency,
    frequency: order.frequency,
    startDate: order.startDate,
    endDate: order.endDate,
    description: order.description,
    status: order.status,
    stopReason: order.stopReason,
    nextDueDate: order.nextDueDate,
    createdAt: order.createdAt,
  };
}

function toRunView(run: RunRecord): RunView {
  return {
    dueDate: run.dueDate,
    attempt: run.attempt,
    status: run.status === 'done' ? 'done' : 'failed',
    ...(run.transactionId === null ? {} : { transactionId: run.transactionId }),
    ...(run.paymentId === null ? {} : { paymentId: run.paymentId }),
    ...(run.paymentStatus === null ? {} : { paymentStatus: run.paymentStatus }),
    ...(run.reason === null ? {} : { reason: run.reason }),
    ...(run.detail === null ? {} : { detail: run.detail }),
    ranAt: run.completedAt,
  };
}

const RUN_CURSOR = /^r1:(\d{4}-\d{2}-\d{2}):([12])$/;

function decodeRunCursor(cursor: string): { dueDate: string; attempt: number } {
  const match = RUN_CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match?.[1] === undefined || !isCalendarDate(match[1])) {
    throw new CorebankError('VALIDATION_FAILED', 'cursor is not one this API issued', 'cursor');
  }
  return { dueDate: match[1], attempt: Number(match[2]) };
}

/**
 * Standing orders as the customer sees them: create (the PIN is checked here, once; the
 * runs are pre-authorised by it), list, cancel, and read the runs. The scheduler
 * (scheduler.ts) runs them.
 */
export class StandingOrdersService {
  readonly #deps: StandingOrdersServiceDeps;

  constructor(deps: StandingOrdersServiceDeps) {
    this.#deps = deps;
  }

  async create(
    principal: Principal,
    accountNumber: string,
    request: CreateOrderRequest,
  ): Promise<StandingOrderView> {
    const { db, engine } = this.#deps;
    // Auditors read everything and move nothing.
    if (!hasRole(principal, 'customer', 'teller', 'admin')) {
      throw new CorebankError('FORBIDDEN', 'this role may not move money');
    }
    // Ownership first: another customer's account answers like a missing one, before
    // anything about the body is judged (which could reveal the account's currency).
    const account = await findOrderAccount(db, accountNumber);
    if (account === null || account.kind !== 'customer' || account.userId !== principal.userId) {
      throw new CorebankError('NOT_FOUND', 'account not found');
    }
    const { toAccount, beneficiary } = request;
    if (toAccount !== undefined && beneficiary !== undefined) {
      throw new CorebankError(
        'VALIDATION_FAILED',
        'give either toAccount (this bank) or beneficiary (another bank), not both',
        'beneficiary',
      );
    }
    if (toAccount === undefined && beneficiary === undefined) {
      throw new CorebankError(
        'VALIDATION_FAILED',
        'toAccount (this bank) or beneficiary (another bank) is required',
        'toAccount',
      );
    }
    if (beneficiary !== undefined) {
      // Exactly the rules a payment applies (the schema bounds the fields).
      checkBeneficiary(beneficiary, this.#deps.bankCode);
    }
    if (toAccount !== undefined) {
      const problem = accountNumberProblem(toAccount);
      if (problem !== null) throw new CorebankError('VALIDATION_FAILED', problem, 'toAccount');
      if (toAccount === accountNumber) {
        throw new CorebankError('SAME_ACCOUNT', 'cannot pay the same account', 'toAccount');
      }
    }
    const amountMinor = parseAmount(request.amount, account.currency, {
      maxMinor: minorFromMajorUnits(this.#deps.maxAmountMajor, account.currency),
      field: 'amount',
    });
    const today = utcDate(this.#deps.clock());
    if (!isCalendarDate(request.startDate)) {
      throw new CorebankError(
        'VALIDATION_FAILED',
        'startDate must be a date YYYY-MM-DD',
        'startDate',
      );
    }
    if (request.startDate < today) {
      throw new CorebankError(
        'VALIDATION_FAILED',
        `startDate must be today (${today}, UTC) or later`,
        'startDate',
      );
    }
    const endDate = request.endDate ?? null;
    if (endDate !== null && (!isCalendarDate(endDate) || endDate < request.startDate)) {
      throw new CorebankError(
        'VALIDATION_FAILED',
        'endDate must be a date YYYY-MM-DD on or after startDate',
        'endDate',
      );
    }
    const destination = toAccount === undefined ? null : await findOrderAccount(db, toAccount);
    if (toAccount !== undefined) {
      if (destination === null || destination.kind !== 'customer') {
        throw new CorebankError('NOT_FOUND', 'destination account not found', 'toAccount');
      }
      if (destination.currency !== account.currency) {
        // Another customer's currency is not told to the caller (issue #10, item 11): the
        // same refusal as the transfer's (src/ledger/rules.ts destinationAccepts).
        const precise = destination.userId === principal.userId || isReadingStaff(principal);
        throw precise
          ? new CorebankError(
              'CURRENCY_MISMATCH',
              `the destination account holds ${destination.currency}, not ${account.currency}`,
              'toAccount',
            )
          : new CorebankError(
              'DESTINATION_REFUSED',
              'the destination account cannot receive this transfer',
              'toAccount',
            );
      }
    }
    if (account.status === 'frozen') {
      throw new CorebankError('ACCOUNT_FROZEN', `account ${accountNumber} is frozen`);
    }

    const now = new Date().toISOString();
    const id = crypto.randomUUID();
    // The PIN check and the insert share one transaction under the user's row lock, so
    // wrong PINs are counted exactly; a refusal is returned (not thrown) so that the
    // counter's update commits.
    const refusal = await db.transaction().execute(async (trx): Promise<CorebankError | null> => {
      const wrong = await checkPinInTransaction(trx, engine, {
        userId: principal.userId,
        pin: request.pin,
        pepper: this.#deps.pinPepper,
        maxAttempts: this.#deps.pinMaxAttempts,
        clientIp: null,
        now,
      });
      if (wrong !== null) return refusalError(wrong);
      if ((await countActiveOrders(trx, account.id)) >= MAX_ACTIVE_ORDERS_PER_ACCOUNT) {
        return new CorebankError(
          'STANDING_ORDER_LIMIT_REACHED',
          `an account may have at most ${MAX_ACTIVE_ORDERS_PER_ACCOUNT} active standing orders`,
        );
      }
      await insertOrder(trx, {
        id,
        user_id: principal.userId,
        account_id: account.id,
        to_account_id: destination?.id ?? null,
        beneficiary: beneficiary ?? null,
        amount_minor: amountMinor,
        currency: account.currency,
        frequency: request.frequency,
        start_date: request.startDate,
        end_date: endDate,
        description: request.description ?? null,
        status: 'active',
        next_due_date: request.startDate,
        created_at: now,
      });
      return null;
    });
    if (refusal !== null) throw refusal;
    const order = await findOrder(db, id);
    if (order === null) throw new Error('standing order vanished after insert');
    return toOrderView(order);
  }

  async list(principal: Principal, accountNumber: string): Promise<{ data: StandingOrderView[] }> {
    const account = await findOrderAccount(this.#deps.db, accountNumber);
    if (
      account === null ||
      account.kind !== 'customer' ||
      (account.userId !== principal.userId && !isReadingStaff(principal))
    ) {
      throw new CorebankError('NOT_FOUND', 'account not found');
    }
    const orders = await listOrdersOfAccount(this.#deps.db, account.id, LIST_LIMIT);
    return { data: orders.map(toOrderView) };
  }

  /** An order the principal may read (owner or reading staff); others get NOT_FOUND. */
  async #readable(principal: Principal, id: string): Promise<OrderRecord> {
    const order = await findOrder(this.#deps.db, id);
    if (order === null || (order.userId !== principal.userId && !isReadingStaff(principal))) {
      throw new CorebankError('NOT_FOUND', 'standing order not found');
    }
    return order;
  }

  /**
   * Cancels an order: no due date after this runs. Only its owner may; cancelling an order
   * that already ended changes nothing (the same 204).
   */
  async cancel(principal: Principal, id: string): Promise<void> {
    const { db, engine } = this.#deps;
    const order = await findOrder(db, id);
    if (order === null || order.userId !== principal.userId) {
      throw new CorebankError('NOT_FOUND', 'standing order not found');
    }
    await db.transaction().execute(async (trx) => {
      const locked = await lockOrder(trx, engine, id, { skipLocked: false });
      if (locked?.status !== 'active') return;
      await updateOrderState(
        trx,
        id,
        { status: 'cancelled', nextDueDate: null },
        new Date().toISOString(),
      );
    });
  }

  async runs(
    principal: Principal,
    id: string,
    page: { limit: number; cursor: string | null },
  ): Promise<{ data: RunView[]; nextCursor: string | null }> {
    const before = page.cursor === null ? null : decodeRunCursor(page.cursor);
    const order = await this.#readable(principal, id);
    const rows = await listFinishedRuns(this.#deps.db, order.id, before, page.limit + 1);
    const shown = rows.slice(0, page.limit);
    const last = shown.at(-1);
    return {
      data: shown.map(toRunView),
      nextCursor:
        rows.length > page.limit && last !== undefined
          ? Buffer.from(`r1:${last.dueDate}:${last.attempt}`).toString('base64url')
          : null,
    };
  }
}

/** Outcome codes after which an order cannot go on without the customer or the bank. */
export const STOPPING_CODES: ReadonlySet<ErrorCode> = new Set([
  'USER_LOCKED',
  'ACCOUNT_FROZEN',
  'NOT_FOUND',
  'CURRENCY_MISMATCH',
  'DESTINATION_REFUSED',
]);
