import type { Db, Engine, Trx } from '../db/database.ts';
import type {
  AccountsTable,
  PaymentsTable,
  StandingOrderRunsTable,
  StandingOrdersTable,
} from '../db/schema.ts';
import type { Beneficiary } from '../payments/payments-service.ts';

/** Every SQL statement of standing orders and their runs. */

export interface OrderAccount {
  id: bigint;
  accountNumber: string;
  userId: string | null;
  kind: AccountsTable['kind'];
  currency: string;
  status: AccountsTable['status'];
}

export async function findOrderAccount(
  db: Db | Trx,
  accountNumber: string,
): Promise<OrderAccount | null> {
  const row = await db
    .selectFrom('accounts')
    .select(['id', 'account_number', 'user_id', 'kind', 'currency', 'status'])
    .where('account_number', '=', accountNumber)
    .executeTakeFirst();
  return row === undefined
    ? null
    : {
        id: row.id,
        accountNumber: row.account_number,
        userId: row.user_id,
        kind: row.kind,
        currency: row.currency,
        status: row.status,
      };
}

export async function countActiveOrders(trx: Trx, accountId: bigint): Promise<number> {
  const row = await trx
    .selectFrom('standing_orders')
    .select((eb) => eb.fn.countAll<bigint | number>().as('n'))
    .where('account_id', '=', accountId)
    .where('status', '=', 'active')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface OrderInsert {
  id: string;
  user_id: string;
  account_id: bigint;
  /** Exactly one payee: one of our accounts, or a beneficiary at another bank. */
  to_account_id: bigint | null;
  beneficiary: Beneficiary | null;
  amount_minor: bigint;
  currency: string;
  frequency: StandingOrdersTable['frequency'];
  start_date: string;
  end_date: string | null;
  description: string | null;
  status: StandingOrdersTable['status'];
  next_due_date: string | null;
  created_at: string;
}

export async function insertOrder(trx: Trx, order: OrderInsert): Promise<void> {
  const { beneficiary, ...columns } = order;
  await trx
    .insertInto('standing_orders')
    .values({
      ...columns,
      beneficiary_name: beneficiary?.name ?? null,
      beneficiary_bank_code: beneficiary?.bankCode ?? null,
      beneficiary_account: beneficiary?.accountNumber ?? null,
      stop_reason: null,
      updated_at: order.created_at,
    })
    .execute();
}

/** An order with its two account numbers, as read for the API and the scheduler. */
export interface OrderRecord {
  id: string;
  userId: string;
  accountId: bigint;
  accountNumber: string;
  /** Null when the order pays `beneficiary` at another bank. */
  toAccountNumber: string | null;
  beneficiary: Beneficiary | null;
  amountMinor: bigint;
  currency: string;
  frequency: StandingOrdersTable['frequency'];
  startDate: string;
  endDate: string | null;
  description: string | null;
  status: StandingOrdersTable['status'];
  stopReason: string | null;
  nextDueDate: string | null;
  createdAt: string;
}

function selectOrders(db: Db | Trx) {
  return db
    .selectFrom('standing_orders as o')
    .innerJoin('accounts as a', 'a.id', 'o.account_id')
    .leftJoin('accounts as t', 't.id', 'o.to_account_id')
    .select([
      'o.id',
      'o.user_id',
      'o.account_id',
      'a.account_number',
      't.account_number as to_account_number',
      'o.beneficiary_name',
      'o.beneficiary_bank_code',
      'o.beneficiary_account',
      'o.amount_minor',
      'o.currency',
      'o.frequency',
      'o.start_date',
      'o.end_date',
      'o.description',
      'o.status',
      'o.stop_reason',
      'o.next_due_date',
      'o.created_at',
    ]);
}

type OrderRow = Awaited<ReturnType<ReturnType<typeof selectOrders>['execute']>>[number];

function toOrder(row: OrderRow): OrderRecord {
  return {
    id: row.id,
    userId: row.user_id,
    accountId: row.account_id,
    accountNumber: row.account_number,
    toAccountNumber: row.to_account_number,
    beneficiary:
      row.beneficiary_name === null ||
      row.beneficiary_bank_code === null ||
      row.beneficiary_account === null
        ? null
        : {
            name: row.beneficiary_name,
            bankCode: row.beneficiary_bank_code,
            accountNumber: row.beneficiary_account,
          },
    amountMinor: row.amount_minor,
    currency: row.currency,
    frequency: row.frequency,
    startDate: row.start_date,
    endDate: row.end_date,
    description: row.description,
    status: row.status,
    stopReason: row.stop_reason,
    nextDueDate: row.next_due_date,
    createdAt: row.created_at,
  };
}

export async function findOrder(db: Db | Trx, id: string): Promise<OrderRecord | null> {
  const row = await selectOrders(db).where('o.id', '=', id).executeTakeFirst();
  return row === undefined ? null : toOrder(row);
}

/** An account's orders, newest first; bounded (active ones are capped per account). */
export async function listOrdersOfAccount(
  db: Db,
  accountId: bigint,
  limit: number,
): Promise<OrderRecord[]> {
  const rows = await selectOrders(db)
    .where('o.account_id', '=', accountId)
    .orderBy('o.created_at', 'desc')
    .orderBy('o.id', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toOrder);
}

/** Locks an order row for the rest of the transaction (PostgreSQL). */
export async function lockOrder(
  trx: Trx,
  engine: Engine,
  id: string,
  options: { skipLocked: boolean },
): Promise<Pick<
  StandingOrdersTable,
  'status' | 'next_due_date' | 'frequency' | 'start_date' | 'end_date'
> | null> {
  const row = await trx
    .selectFrom('standing_orders')
    .select(['status', 'next_due_date', 'frequency', 'start_date', 'end_date'])
    .where('id', '=', id)
    .$if(engine === 'postgres', (q) => {
      const locked = q.forUpdate();
      return options.skipLocked ? locked.skipLocked() : locked;
    })
    .executeTakeFirst();
  return row ?? null;
}

export async function updateOrderState(
  trx: Trx,
  id: string,
  change: {
    status: StandingOrdersTable['status'];
    nextDueDate: string | null;
    stopReason?: string | null;
  },
  now: string,
): Promise<void> {
  const result = await trx
    .updateTable('standing_orders')
    .set({
      status: change.status,
      next_due_date: change.nextDueDate,
      updated_at: now,
      ...(change.stopReason === undefined ? {} : { stop_reason: change.stopReason }),
    })
    .where('id', '=', id)
    .executeTakeFirst();
  if (result.numUpdatedRows !== 1n) throw new Error(`standing order ${id} vanished`);
}

/** Ids of active orders whose next due date has come (oldest due first). */
export async function dueOrderIds(db: Db, today: string, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('standing_orders')
    .select('id')
    .where('status', '=', 'active')
    .where('next_due_date', '<=', today)
    .orderBy('next_due_date')
    .limit(limit)
    .execute();
  return rows.map((row) => row.id);
}

export interface RunKey {
  orderId: string;
  dueDate: string;
  attempt: number;
}

/** Records that a due date (or its retry) is to be run; a second insert changes nothing. */
export async function insertPendingRun(
  trx: Trx,
  run: RunKey & { runOn: string },
  now: string,
): Promise<void> {
  await trx
    .insertInto('standing_order_runs')
    .values({
      order_id: run.orderId,
      due_date: run.dueDate,
      attempt: BigInt(run.attempt),
      run_on: run.runOn,
      status: 'pending',
      transaction_id: null,
      payment_id: null,
      reason: null,
      detail: null,
      lease_owner: null,
      lease_until: null,
      created_at: now,
      completed_at: null,
    })
    .onConflict((oc) => oc.columns(['order_id', 'due_date', 'attempt']).doNothing())
    .execute();
}

/** Pending runs whose day has come and that nobody holds a live lease on. */
export async function claimableRuns(
  db: Db,
  today: string,
  now: string,
  limit: number,
): Promise<RunKey[]> {
  const rows = await db
    .selectFrom('standing_order_runs')
    .select(['order_id', 'due_date', 'attempt'])
    .where('status', '=', 'pending')
    .where('run_on', '<=', today)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .orderBy('run_on')
    .orderBy('due_date')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    orderId: row.order_id,
    dueDate: row.due_date,
    attempt: Number(row.attempt),
  }));
}

/**
 * Takes the lease on a pending run: one conditional UPDATE, so of several processes that
 * see the run free at once exactly one gets a row back (PostgreSQL re-checks the condition
 * after waiting for the other's row lock; SQLite has one writer).
 */
export async function claimRun(
  db: Db,
  run: RunKey,
  owner: string,
  leaseUntil: string,
  now: string,
): Promise<boolean> {
  const result = await db
    .updateTable('standing_order_runs')
    .set({ lease_owner: owner, lease_until: leaseUntil })
    .where('order_id', '=', run.orderId)
    .where('due_date', '=', run.dueDate)
    .where('attempt', '=', BigInt(run.attempt))
    .where('status', '=', 'pending')
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** Records a run's outcome, only if this process still holds its lease. */
export async function completeRun(
  trx: Trx,
  run: RunKey,
  owner: string,
  outcome: {
    status: 'done' | 'failed';
    transactionId: string | null;
    paymentId: string | null;
    reason: string | null;
    detail: string | null;
  },
  now: string,
): Promise<boolean> {
  const result = await trx
    .updateTable('standing_order_runs')
    .set({
      status: outcome.status,
      transaction_id: outcome.transactionId,
      payment_id: outcome.paymentId,
      reason: outcome.reason,
      detail: outcome.detail,
      lease_owner: null,
      lease_until: null,
      completed_at: now,
    })
    .where('order_id', '=', run.orderId)
    .where('due_date', '=', run.dueDate)
    .where('attempt', '=', BigInt(run.attempt))
    .where('status', '=', 'pending')
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

export interface RunRecord {
  dueDate: string;
  attempt: number;
  status: StandingOrderRunsTable['status'];
  transactionId: string | null;
  paymentId: string | null;
  /** The payment's status now (it settles or is rejected after the run). */
  paymentStatus: PaymentsTable['status'] | null;
  reason: string | null;
  detail: string | null;
  completedAt: string | null;
}

/** Finished runs of an order, newest due date first, strictly before `before` when given. */
export async function listFinishedRuns(
  db: Db,
  orderId: string,
  before: { dueDate: string; attempt: number } | null,
  limit: number,
): Promise<RunRecord[]> {
  const rows = await db
    .selectFrom('standing_order_runs as r')
    .leftJoin('payments as p', 'p.id', 'r.payment_id')
    .select([
      'r.due_date',
      'r.attempt',
      'r.status',
      'r.transaction_id',
      'r.payment_id',
      'p.status as payment_status',
      'r.reason',
      'r.detail',
      'r.completed_at',
    ])
    .where('r.order_id', '=', orderId)
    .where('r.status', '<>', 'pending')
    .$if(before !== null, (q) =>
      q.where((eb) =>
        eb.or([
          eb('r.due_date', '<', before?.dueDate ?? ''),
          eb.and([
            eb('r.due_date', '=', before?.dueDate ?? ''),
            eb('r.attempt', '<', BigInt(before?.attempt ?? 0)),
          ]),
        ]),
      ),
    )
    .orderBy('r.due_date', 'desc')
    .orderBy('r.attempt', 'desc')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    dueDate: row.due_date,
    attempt: Number(row.attempt),
    status: row.status,
    transactionId: row.transaction_id,
    paymentId: row.payment_id,
    paymentStatus: row.payment_status,
    reason: row.reason,
    detail: row.detail,
    completedAt: row.completed_at,
  }));
}
