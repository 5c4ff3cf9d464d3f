import { sql } from 'kysely';
import type { Db, Trx } from '../db/database.ts';
import type { PaymentsTable } from '../db/schema.ts';
import { formatMinor } from '../money/money.ts';

/** The bank's clearing account of a currency: its position on the payment network. */
export function clearingAccountNumber(currency: string): string {
  return `CLEARING-${currency}`;
}

export type PaymentStatus = PaymentsTable['status'];

export interface StatusChange {
  status: PaymentStatus;
  at: string;
  reason?: string;
}

/** The contract's `payment`. */
export interface PaymentView {
  id: string;
  direction: 'outbound' | 'inbound';
  accountNumber: string;
  amount: string;
  currency: string;
  counterparty: { name: string; bankCode: string; accountNumber: string };
  reference: string | null;
  status: PaymentStatus;
  statusHistory: StatusChange[];
  holdId: string | null;
  transactionId: string | null;
  /** Present only on a returned payment: the new credit that gave the money back. */
  returnTransactionId?: string;
  createdAt: string;
  updatedAt: string;
}

export interface PaymentRecord {
  id: string;
  direction: 'outbound' | 'inbound';
  accountId: bigint;
  accountNumber: string;
  userId: string | null;
  amountMinor: bigint;
  currency: string;
  counterpartyName: string;
  counterpartyBankCode: string;
  counterpartyAccount: string;
  reference: string | null;
  status: PaymentStatus;
  statusHistory: StatusChange[];
  holdId: string | null;
  transactionId: string | null;
  returnTransactionId: string | null;
  networkPaymentId: string | null;
  submitAttempts: bigint;
  createdAt: string;
  updatedAt: string;
}

const COLUMNS = [
  'payments.id',
  'payments.direction',
  'payments.account_id',
  'accounts.account_number',
  'payments.user_id',
  'payments.amount_minor',
  'payments.currency',
  'payments.counterparty_name',
  'payments.counterparty_bank_code',
  'payments.counterparty_account',
  'payments.reference',
  'payments.status',
  'payments.status_history',
  'payments.hold_id',
  'payments.transaction_id',
  'payments.return_transaction_id',
  'payments.network_payment_id',
  'payments.submit_attempts',
  'payments.created_at',
  'payments.updated_at',
] as const;

type Row = {
  id: string;
  direction: 'outbound' | 'inbound';
  account_id: bigint;
  account_number: string;
  user_id: string | null;
  amount_minor: bigint;
  currency: string;
  counterparty_name: string;
  counterparty_bank_code: string;
  counterparty_account: string;
  reference: string | null;
  status: PaymentStatus;
  status_history: string;
  hold_id: string | null;
  transaction_id: string | null;
  return_transaction_id: string | null;
  network_payment_id: string | null;
  submit_attempts: bigint;
  created_at: string;
  updated_at: string;
};

function toRecord(row: Row): PaymentRecord {
  return {
    id: row.id,
    direction: row.direction,
    accountId: row.account_id,
    accountNumber: row.account_number,
    userId: row.user_id,
    amountMinor: row.amount_minor,
    currency: row.currency,
    counterpartyName: row.counterparty_name,
    counterpartyBankCode: row.counterparty_bank_code,
    counterpartyAccount: row.counterparty_account,
    reference: row.reference,
    status: row.status,
    statusHistory: JSON.parse(row.status_history) as StatusChange[],
    holdId: row.hold_id,
    transactionId: row.transaction_id,
    returnTransactionId: row.return_transaction_id,
    networkPaymentId: row.network_payment_id,
    submitAttempts: row.submit_attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toPaymentView(payment: PaymentRecord): PaymentView {
  return {
    id: payment.id,
    direction: payment.direction,
    accountNumber: payment.accountNumber,
    amount: formatMinor(payment.amountMinor, payment.currency),
    currency: payment.currency,
    counterparty: {
      name: payment.counterpartyName,
      bankCode: payment.counterpartyBankCode,
      accountNumber: payment.counterpartyAccount,
    },
    reference: payment.reference,
    status: payment.status,
    statusHistory: payment.statusHistory,
    holdId: payment.holdId,
    transactionId: payment.transactionId,
    ...(payment.returnTransactionId === null
      ? {}
      : { returnTransactionId: payment.returnTransactionId }),
    createdAt: payment.createdAt,
    updatedAt: payment.updatedAt,
  };
}

export async function insertPayment(
  trx: Trx,
  payment: {
    id: string;
    direction: 'outbound' | 'inbound';
    accountId: bigint;
    userId: string | null;
    amountMinor: bigint;
    currency: string;
    counterparty: { name: string; bankCode: string; accountNumber: string };
    reference: string | null;
    status: PaymentStatus;
    holdId: string | null;
    networkPaymentId: string | null;
    transactionId: string | null;
    now: string;
  },
): Promise<bigint> {
  const result = await trx
    .insertInto('payments')
    .values({
      id: payment.id,
      direction: payment.direction,
      account_id: payment.accountId,
      user_id: payment.userId,
      amount_minor: payment.amountMinor,
      currency: payment.currency,
      counterparty_name: payment.counterparty.name,
      counterparty_bank_code: payment.counterparty.bankCode,
      counterparty_account: payment.counterparty.accountNumber,
      reference: payment.reference,
      status: payment.status,
      status_history: JSON.stringify([{ status: payment.status, at: payment.now }]),
      hold_id: payment.holdId,
      transaction_id: payment.transactionId,
      network_payment_id: payment.networkPaymentId,
      submit_attempts: 0n,
      next_attempt_at: payment.direction === 'outbound' ? payment.now : null,
      lease_until: null,
      created_at: payment.now,
      updated_at: payment.now,
    })
    .executeTakeFirst();
  return BigInt(result.numInsertedOrUpdatedRows ?? 0n);
}

async function appendStatus(
  db: Db | Trx,
  change: {
    id: string;
    from: readonly PaymentStatus[];
    status: PaymentStatus;
    reason: string | null;
    now: string;
    set?: {
      transaction_id?: string | null;
      return_transaction_id?: string | null;
      network_payment_id?: string | null;
    };
  },
): Promise<bigint> {
  const current = await db
    .selectFrom('payments')
    .select(['status_history'])
    .where('id', '=', change.id)
    .executeTakeFirst();
  if (current === undefined) return 0n;
  const history = JSON.parse(current.status_history) as StatusChange[];
  history.push(
    change.reason === null
      ? { status: change.status, at: change.now }
      : { status: change.status, at: change.now, reason: change.reason },
  );
  const result = await db
    .updateTable('payments')
    .set({
      status: change.status,
      status_history: JSON.stringify(history),
      updated_at: change.now,
      next_attempt_at: null,
      lease_until: null,
      ...(change.set ?? {}),
    })
    .where('id', '=', change.id)
    .where('status', 'in', [...change.from])
    .where('status_history', '=', current.status_history)
    .executeTakeFirst();
  return BigInt(result.numUpdatedRows);
}

/** An outbound payment's end (in the batch that captures or voids its hold). */
export function finishPayment(
  trx: Trx,
  change: {
    id: string;
    status: 'settled' | 'rejected' | 'failed';
    reason: string | null;
    transactionId: string | null;
    now: string;
  },
): Promise<bigint> {
  return appendStatus(trx, {
    id: change.id,
    from: ['pending', 'submitted'],
    status: change.status,
    reason: change.reason,
    now: change.now,
    set: { transaction_id: change.transactionId },
  });
}

/** A settled outbound payment came back (its new credit is in the same transaction). */
export function returnPayment(
  trx: Trx,
  change: {
    id: string;
    reason: string;
    networkPaymentId: string;
    transactionId: string | null;
    now: string;
  },
): Promise<bigint> {
  return appendStatus(trx, {
    id: change.id,
    from: ['settled'],
    status: 'returned',
    reason: change.reason,
    now: change.now,
    set: {
      network_payment_id: change.networkPaymentId,
      return_transaction_id: change.transactionId,
    },
  });
}

/** The network took the instruction. */
export function markSubmitted(
  db: Db | Trx,
  change: { id: string; networkPaymentId: string; now: string },
): Promise<bigint> {
  return appendStatus(db, {
    id: change.id,
    from: ['pending'],
    status: 'submitted',
    reason: null,
    now: change.now,
    set: { network_payment_id: change.networkPaymentId },
  });
}

/**
 * Claims one due outbound payment for this process until `leaseUntil`: a conditional update,
 * so two dispatchers never submit the same payment at once.
 */
export async function claimDuePayments(
  db: Db,
  now: string,
  leaseUntil: string,
  limit: number,
): Promise<PaymentRecord[]> {
  const due = await db
    .selectFrom('payments')
    .select(['id'])
    .where('direction', '=', 'outbound')
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute();
  const claimed: PaymentRecord[] = [];
  for (const { id } of due) {
    const result = await db
      .updateTable('payments')
      .set({ lease_until: leaseUntil, submit_attempts: sql`submit_attempts + 1` })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .executeTakeFirst();
    if (result.numUpdatedRows !== 1n) continue;
    const payment = await findPayment(db, id);
    if (payment !== null) claimed.push(payment);
  }
  return claimed;
}

/** After a failed attempt: try again at `nextAttemptAt`, releasing the lease. */
export async function deferPayment(db: Db, id: string, nextAttemptAt: string): Promise<void> {
  await db
    .updateTable('payments')
    .set({ next_attempt_at: nextAttemptAt, lease_until: null })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

export async function findPayment(db: Db | Trx, id: string): Promise<PaymentRecord | null> {
  const row = await db
    .selectFrom('payments')
    .innerJoin('accounts', 'accounts.id', 'payments.account_id')
    .select(COLUMNS)
    .where('payments.id', '=', id)
    .executeTakeFirst();
  return row === undefined ? null : toRecord(row);
}

export async function findPaymentByHold(db: Db, holdId: string): Promise<PaymentRecord | null> {
  const row = await db
    .selectFrom('payments')
    .innerJoin('accounts', 'accounts.id', 'payments.account_id')
    .select(COLUMNS)
    .where('payments.hold_id', '=', holdId)
    .executeTakeFirst();
  return row === undefined ? null : toRecord(row);
}

export async function findPaymentByNetworkId(db: Db, networkId: string): Promise<boolean> {
  const row = await db
    .selectFrom('payments')
    .select(['id'])
    .where('network_payment_id', '=', networkId)
    .executeTakeFirst();
  return row !== undefined;
}

export async function listPayments(
  db: Db,
  accountId: bigint,
  limit: number,
): Promise<PaymentRecord[]> {
  const rows = await db
    .selectFrom('payments')
    .innerJoin('accounts', 'accounts.id', 'payments.account_id')
    .select(COLUMNS)
    .where('payments.account_id', '=', accountId)
    .orderBy('payments.created_at', 'desc')
    .orderBy('payments.id', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toRecord);
}
