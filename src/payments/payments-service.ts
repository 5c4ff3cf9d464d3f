import crypto from 'node:crypto';
import { findAccountByNumber } from '../accounts/accounts-repository.ts';
import { isReadingStaff, type Principal } from '../auth/roles.ts';
import { type Db, isUniqueViolation } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { ensureSystemAccount } from '../holds/holds-repository.ts';
import type { CommandBatcher } from '../ledger/batcher.ts';
import { type Refusal, refusalError } from '../ledger/commands/command.ts';
import { accessTo, mayMoveMoney } from '../ledger/rules.ts';
import { minorFromMajorUnits, parseAmount } from '../money/money.ts';
import { BANK_CODE_PATTERN, type NetworkPayment } from './network-protocol.ts';
import {
  clearingAccountNumber,
  findPayment,
  findPaymentByHold,
  findPaymentByNetworkId,
  listPayments,
  type PaymentRecord,
  type PaymentView,
  toPaymentView,
} from './payments-repository.ts';

export interface Beneficiary {
  name: string;
  bankCode: string;
  accountNumber: string;
}

/**
 * The beneficiary rules both payments and standing orders to other banks apply (the route
 * schemas bound the lengths and the account number's characters, `BeneficiarySchema` in
 * ./routes.ts): a well-formed bank code, and not our own (customers of this bank are paid
 * with a transfer, which the network would never see).
 */
export function checkBeneficiary(beneficiary: Beneficiary, ownBankCode: string): void {
  if (!BANK_CODE_PATTERN.test(beneficiary.bankCode)) {
    throw new CorebankError(
      'VALIDATION_FAILED',
      'bankCode is not a bank code',
      'beneficiary.bankCode',
    );
  }
  if (beneficiary.bankCode === ownBankCode) {
    throw new CorebankError(
      'VALIDATION_FAILED',
      'pay customers of this bank with a transfer',
      'beneficiary.bankCode',
    );
  }
}

function paymentRequestHash(
  what: string,
  accountNumber: string,
  amountMinor: bigint,
  beneficiary: Beneficiary,
  reference: string | null,
): string {
  return crypto
    .createHash('sha256')
    .update(JSON.stringify([what, accountNumber, `${amountMinor}`, beneficiary, reference]))
    .digest('base64url');
}

/** A payment's hold outlives any submission attempt; the dispatcher gives up long before. */
const PAYMENT_HOLD_SECONDS = 2_592_000;

export interface PaymentRequest {
  amount: string;
  pin: string;
  beneficiary: Beneficiary;
  reference?: string | undefined;
}

/** The customer a payment settles on behalf of (the PIN was checked when it was made). */
function payerOf(payment: PaymentRecord): Principal {
  if (payment.userId === null) throw new Error(`payment ${payment.id} has no payer`);
  return { userId: payment.userId, sessionId: `payment:${payment.id}`, roles: ['customer'] };
}

/**
 * Outbound payments: making one (PIN, hold and row in one batch of the write path), reading
 * them, and ending one (settle: capture the hold to the clearing account; reject or fail:
 * void it). Each end is a conditional change of the payment in the same transaction as the
 * hold's, so an event applied twice changes nothing the second time.
 */
export class PaymentsService {
  readonly #db: Db;
  readonly #batcher: CommandBatcher;
  readonly #maxAmountMajor: bigint;
  readonly #bankCode: string;

  constructor(deps: { db: Db; batcher: CommandBatcher; maxAmountMajor: bigint; bankCode: string }) {
    this.#db = deps.db;
    this.#batcher = deps.batcher;
    this.#maxAmountMajor = deps.maxAmountMajor;
    this.#bankCode = deps.bankCode;
  }

  async create(
    actor: Principal,
    accountNumber: string,
    request: PaymentRequest,
    idempotencyKey: string | null,
    clientIp: string | null,
  ): Promise<{ payment: PaymentView; replayed: boolean }> {
    const forbidden = mayMoveMoney(actor);
    if (forbidden !== null) throw new CorebankError(forbidden.code, forbidden.message);
    const account = await findAccountByNumber(this.#db, accountNumber);
    const access = accessTo(actor, account, false);
    if (typeof access !== 'string') throw new CorebankError(access.code, access.message);
    if (account === null) throw new Error('access granted to a missing account');
    const { beneficiary } = request;
    checkBeneficiary(beneficiary, this.#bankCode);
    const amountMinor = parseAmount(request.amount, account.currency, {
      maxMinor: minorFromMajorUnits(this.#maxAmountMajor, account.currency),
      field: 'amount',
    });
    const reference = request.reference ?? null;
    const outcome = await this.#submit({
      actor,
      clientIp,
      amountMinor,
      currency: account.currency,
      accountNumber,
      beneficiary,
      reference,
      pin: request.pin,
      idempotency:
        idempotencyKey === null
          ? null
          : {
              key: idempotencyKey,
              requestHash: paymentRequestHash(
                'payment',
                accountNumber,
                amountMinor,
                beneficiary,
                reference,
              ),
            },
    });
    if (!outcome.ok) {
      throw refusalError(outcome.error);
    }
    return { payment: outcome.payment, replayed: outcome.replayed };
  }

  /**
   * A run of a standing order to another bank: the same payment command as `create` (hold,
   * payment row, daily limits, funds), pre-authorised by the PIN the customer gave when
   * creating the order, under the run's own idempotency key (src/standing-orders/
   * scheduler.ts), so however often a run is retried it makes one payment, and the payment
   * id is what reaches the network. Refusals are returned, not thrown: a run records them.
   */
  async payForStandingOrder(order: {
    id: string;
    userId: string;
    accountNumber: string;
    amountMinor: bigint;
    currency: string;
    beneficiary: Beneficiary;
    reference: string | null;
    idempotencyKey: string;
  }): Promise<
    { ok: true; payment: PaymentView; replayed: boolean } | { ok: false; error: Refusal }
  > {
    return this.#submit({
      actor: { userId: order.userId, sessionId: `standing-order:${order.id}`, roles: ['customer'] },
      clientIp: null,
      amountMinor: order.amountMinor,
      currency: order.currency,
      accountNumber: order.accountNumber,
      beneficiary: order.beneficiary,
      reference: order.reference,
      pin: null,
      preAuthorisedBy: { standingOrderId: order.id },
      idempotency: {
        key: order.idempotencyKey,
        requestHash: paymentRequestHash(
          'standing-order-payment',
          order.accountNumber,
          order.amountMinor,
          order.beneficiary,
          order.reference,
        ),
      },
    });
  }

  /** The one place a payment command is made: a hold and a pending payment in one batch. */
  async #submit(input: {
    actor: Principal;
    clientIp: string | null;
    amountMinor: bigint;
    currency: string;
    accountNumber: string;
    beneficiary: Beneficiary;
    reference: string | null;
    pin: string | null;
    preAuthorisedBy?: { standingOrderId: string };
    idempotency: { key: string; requestHash: string } | null;
  }): Promise<
    { ok: true; payment: PaymentView; replayed: boolean } | { ok: false; error: Refusal }
  > {
    const outcome = await this.#batcher.submit({
      kind: 'payment',
      actor: input.actor,
      clientIp: input.clientIp,
      amountMinor: input.amountMinor,
      currency: input.currency,
      description: input.reference,
      accountNumber: input.accountNumber,
      pin: input.pin,
      paymentId: crypto.randomUUID(),
      holdId: crypto.randomUUID(),
      expiresAt: new Date(Date.now() + PAYMENT_HOLD_SECONDS * 1000).toISOString(),
      beneficiary: input.beneficiary,
      reference: input.reference,
      ...(input.preAuthorisedBy === undefined ? {} : { preAuthorisedBy: input.preAuthorisedBy }),
      idempotency: input.idempotency,
    });
    if (!outcome.ok) return { ok: false, error: outcome.error };
    // A replay answers the hold of the first request, so this is the first payment.
    const payment = await findPaymentByHold(this.#db, outcome.hold.id);
    if (payment === null) throw new Error(`no payment for hold ${outcome.hold.id}`);
    return { ok: true, payment: toPaymentView(payment), replayed: outcome.replayed };
  }

  async get(actor: Principal, id: string): Promise<PaymentView> {
    const payment = await findPayment(this.#db, id);
    if (payment === null || !(await this.#mayRead(actor, payment.accountNumber))) {
      throw new CorebankError('NOT_FOUND', 'payment not found');
    }
    return toPaymentView(payment);
  }

  async list(
    actor: Principal,
    accountNumber: string,
    limit: number,
  ): Promise<{ data: PaymentView[] }> {
    const account = await findAccountByNumber(this.#db, accountNumber);
    if (account === null || !(await this.#mayRead(actor, accountNumber))) {
      throw new CorebankError('NOT_FOUND', 'account not found');
    }
    return { data: (await listPayments(this.#db, account.id, limit)).map(toPaymentView) };
  }

  /** The network settled it: capture the hold to the clearing account. */
  async settle(paymentId: string): Promise<'applied' | 'already' | 'unknown'> {
    const payment = await findPayment(this.#db, paymentId);
    if (payment === null || payment.direction !== 'outbound' || payment.holdId === null) {
      return 'unknown';
    }
    if (payment.status !== 'pending' && payment.status !== 'submitted') return 'already';
    await ensureSystemAccount(
      this.#db,
      clearingAccountNumber(payment.currency),
      payment.currency,
      `${payment.currency} clearing`,
    );
    const outcome = await this.#batcher.submit({
      kind: 'hold_capture',
      actor: payerOf(payment),
      clientIp: null,
      amountMinor: payment.amountMinor,
      currency: payment.currency,
      description: payment.reference,
      accountNumber: payment.accountNumber,
      holdId: payment.holdId,
      toAccountNumber: null,
      requestedMinor: null,
      forPayment: { paymentId },
      idempotency: null,
    });
    if (outcome.ok) return 'applied';
    if (outcome.error.code === 'HOLD_NOT_PENDING') return 'already';
    throw new Error(`payment ${paymentId} could not settle: ${outcome.error.code}`);
  }

  /** It never moved: release the hold, the payment ends `rejected` or `failed`. */
  async release(
    paymentId: string,
    status: 'rejected' | 'failed',
    reason: string,
  ): Promise<'applied' | 'already' | 'unknown'> {
    const payment = await findPayment(this.#db, paymentId);
    if (payment === null || payment.direction !== 'outbound' || payment.holdId === null) {
      return 'unknown';
    }
    if (payment.status !== 'pending' && payment.status !== 'submitted') return 'already';
    const outcome = await this.#batcher.submit({
      kind: 'hold_void',
      actor: payerOf(payment),
      clientIp: null,
      amountMinor: payment.amountMinor,
      currency: payment.currency,
      description: payment.reference,
      accountNumber: payment.accountNumber,
      holdId: payment.holdId,
      forPayment: { paymentId, status, reason },
      idempotency: null,
    });
    if (outcome.ok) return 'applied';
    if (outcome.error.code === 'HOLD_NOT_PENDING') return 'already';
    throw new Error(`payment ${paymentId} could not be released: ${outcome.error.code}`);
  }

  /**
   * Another bank's payment to one of our account numbers: credited from the clearing
   * account, or to be sent back (the answer says why) when the account is unknown, not a
   * customer account, in another currency, or frozen. A repeat of the event credits nothing.
   */
  async receive(event: NetworkPayment): Promise<'applied' | 'already' | { returnReason: string }> {
    if (await findPaymentByNetworkId(this.#db, event.id)) return 'already';
    const account = await findAccountByNumber(this.#db, event.creditor.accountNumber);
    if (account === null || account.kind !== 'customer' || account.userId === null) {
      return { returnReason: 'unknown account' };
    }
    if (account.currency !== event.currency) return { returnReason: 'currency not accepted' };
    if (account.status === 'frozen') return { returnReason: 'account cannot receive' };
    let amountMinor: bigint;
    try {
      amountMinor = parseAmount(event.amount, event.currency, {
        maxMinor: minorFromMajorUnits(this.#maxAmountMajor, event.currency),
        field: 'amount',
      });
    } catch {
      return { returnReason: 'amount not valid' };
    }
    await ensureSystemAccount(
      this.#db,
      clearingAccountNumber(event.currency),
      event.currency,
      `${event.currency} clearing`,
    );
    let outcome: Awaited<ReturnType<CommandBatcher['submit']>>;
    try {
      outcome = await this.#batcher.submit({
        kind: 'payment_credit',
        actor: { userId: account.userId, sessionId: `network:${event.id}`, roles: ['customer'] },
        clientIp: null,
        amountMinor,
        currency: event.currency,
        description: event.reference,
        accountNumber: account.accountNumber,
        paymentId: crypto.randomUUID(),
        networkPaymentId: event.id,
        from: event.debtor,
        reference: event.reference,
        idempotency: null,
      });
    } catch (error) {
      // Two deliveries of one event at once: the unique network id let one through.
      if (isUniqueViolation(error)) return 'already';
      throw error;
    }
    if (outcome.ok) return 'applied';
    return { returnReason: 'account cannot receive' };
  }

  /**
   * A payment of ours that settled came back from the other bank: a new credit to the
   * customer from the clearing account, and the payment becomes `returned`. Applied by the
   * payment's state: an event for a payment not settled yet waits (the network redelivers),
   * a repeat changes nothing.
   */
  async returned(
    event: NetworkPayment,
  ): Promise<'applied' | 'already' | 'unknown' | 'unsupported'> {
    const payment = await findPayment(this.#db, event.instructionId);
    if (payment === null || payment.direction !== 'outbound' || payment.userId === null) {
      // Not ours as the sender: as the creditor bank, our own return is confirmed.
      return 'unknown';
    }
    if (payment.status === 'returned') return 'already';
    if (payment.status === 'pending' || payment.status === 'submitted') {
      // Out of order: settled first, then returned. Settle it now, then post the return.
      await this.settle(payment.id);
    }
    const current = await findPayment(this.#db, payment.id);
    if (current?.status !== 'settled')
      return current?.status === 'returned' ? 'already' : 'unsupported';
    await ensureSystemAccount(
      this.#db,
      clearingAccountNumber(payment.currency),
      payment.currency,
      `${payment.currency} clearing`,
    );
    const outcome = await this.#batcher.submit({
      kind: 'payment_credit',
      actor: payerOf(payment),
      clientIp: null,
      amountMinor: payment.amountMinor,
      currency: payment.currency,
      description: `returned: ${event.returnReason ?? 'sent back'}`,
      accountNumber: payment.accountNumber,
      paymentId: payment.id,
      networkPaymentId: event.id,
      from: {
        name: payment.counterpartyName,
        bankCode: payment.counterpartyBankCode,
        accountNumber: payment.counterpartyAccount,
      },
      reference: payment.reference,
      returnOf: { paymentId: payment.id, reason: event.returnReason ?? 'sent back' },
      idempotency: null,
    });
    if (outcome.ok) return 'applied';
    // A frozen account still gets its money back in a real bank; here it waits for a person.
    return 'unsupported';
  }

  async #mayRead(actor: Principal, accountNumber: string): Promise<boolean> {
    if (isReadingStaff(actor)) return true;
    const account = await findAccountByNumber(this.#db, accountNumber);
    return account !== null && account.kind === 'customer' && account.userId === actor.userId;
  }
}
