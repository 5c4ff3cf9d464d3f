import crypto from 'node:crypto';
import type { StaffStepUp } from '../admin/access.ts';
import { appendAudit, recordAudit } from '../audit/audit.ts';
import { hasRole, type Principal } from '../auth/roles.ts';
import type { Db, Engine, Trx } from '../db/database.ts';
import type { ApprovalsTable, JournalEntriesTable, PostingsTable } from '../db/schema.ts';
import { CorebankError } from '../errors.ts';
import { approvalChanged } from '../events/event-data.ts';
import { appendEvent } from '../events/outbox.ts';
import {
  findIdempotencyKeys,
  idempotencyMapKey,
  insertIdempotencyKeys,
  lockUserGates,
} from '../ledger/batch-repository.ts';
import {
  type CommandOutcome,
  type DepositCommand,
  type MoneyCommand,
  type ReversalCommand,
  refusalError,
} from '../ledger/commands/command.ts';
import { outgoingKindNames } from '../ledger/commands/index.ts';
import type { LedgerEngine } from '../ledger/engine.ts';
import type { TransactionView } from '../ledger/transaction-view.ts';
import { formatMinor } from '../money/money.ts';
import {
  businessDayOf,
  type DailyLimitsConfig,
  type LimitsView,
  limitsView,
  parseLimit,
  readDailyOutgoing,
} from './limits.ts';

/**
 * Controls (issue #13): daily outgoing limits, and maker-checker approvals of reversals and
 * large staff deposits. An approval's effect is applied in the same transaction as the
 * decision, by the approving admin, through the one money write path (`LedgerEngine`);
 * the decision is a conditional update on `status = 'pending'`, so two admins approving
 * at the same moment apply it once. Every step is in the audit chain.
 */

export interface ApprovalView {
  id: string;
  kind: ApprovalsTable['kind'];
  status: ApprovalsTable['status'];
  requestedBy: string;
  requestedByUsername: string | null;
  decidedBy: string | null;
  decidedByUsername: string | null;
  reason: string | null;
  decisionReason: string | null;
  createdAt: string;
  decidedAt: string | null;
  subject: Record<string, string | null>;
  /** The transaction the approval posted (its id on the subject's account). */
  result: { transactionId: string } | null;
}

/**
 * The answer to a staff deposit held for approval: the approval document (202), or on a
 * retry with the same `Idempotency-Key` the first answer again, `replayed`.
 */
export type HeldDeposit = { pendingApproval: ApprovalView; replayed: boolean } | CommandOutcome;

export interface ControlsServiceDeps {
  db: Db;
  engine: Engine;
  ledger: LedgerEngine;
  limits: DailyLimitsConfig;
  /** The admin's step-up code check, shared with every staff action (StaffActions). */
  stepUp: StaffStepUp;
}

interface Context {
  ip: string | null;
  otp?: string | undefined;
}

function iso(value: string | Date): string {
  return typeof value === 'string' ? new Date(value).toISOString() : value.toISOString();
}

export class ControlsService {
  readonly #deps: ControlsServiceDeps;

  constructor(deps: ControlsServiceDeps) {
    this.#deps = deps;
  }

  // ---- limits --------------------------------------------------------------------------

  async limitsOf(userId: string): Promise<LimitsView> {
    const { limits } = this.#deps;
    const day = businessDayOf(Date.now(), limits.timeZone);
    const all = await readDailyOutgoing(this.#deps.db, [userId], outgoingKindNames(), day, limits);
    return limitsView(userId, day, limits.timeZone, all.get(userId) ?? new Map());
  }

  async myLimits(principal: Principal): Promise<LimitsView> {
    return this.limitsOf(principal.userId);
  }

  /** Admins set a user's daily outgoing limits; the change is audited with old and new. */
  async setLimits(
    principal: Principal,
    userId: string,
    dailyOutgoing: Record<string, string>,
    context: Context,
  ): Promise<LimitsView> {
    const target = `user:${userId}`;
    await this.#authorizeAct(principal, 'limits.changed', target, context);
    const parsed = Object.entries(dailyOutgoing).map(([currency, amount]) => ({
      currency,
      minor: parseLimit(amount, currency, `dailyOutgoing.${currency}`),
    }));
    const { db, engine } = this.#deps;
    const user = await db
      .selectFrom('users')
      .select('id')
      .where('id', '=', userId)
      .executeTakeFirst();
    if (user === undefined) throw new CorebankError('NOT_FOUND', 'user not found');
    const now = new Date().toISOString();
    await db.transaction().execute(async (trx) => {
      for (const { currency, minor } of parsed) {
        await trx
          .insertInto('user_limits')
          .values({
            user_id: userId,
            currency,
            daily_outgoing_minor: minor,
            updated_by: principal.userId,
            updated_at: now,
          })
          .onConflict((oc) =>
            oc.columns(['user_id', 'currency']).doUpdateSet({
              daily_outgoing_minor: minor,
              updated_by: principal.userId,
              updated_at: now,
            }),
          )
          .execute();
      }
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: principal.userId,
          action: 'limits.changed',
          target,
          outcome: 'success',
          ip: context.ip,
          details: Object.fromEntries(
            parsed.map(({ currency, minor }) => [currency, formatMinor(minor, currency)]),
          ),
        },
        now,
      );
    });
    return this.limitsOf(userId);
  }

  // ---- approvals -----------------------------------------------------------------------

  async listApprovals(
    principal: Principal,
    status: ApprovalsTable['status'] | undefined,
  ): Promise<ApprovalView[]> {
    if (!hasRole(principal, 'admin', 'auditor')) {
      throw new CorebankError('FORBIDDEN', 'only admins and auditors may see approvals');
    }
    const rows = await this.#approvalQuery()
      .$if(status !== undefined, (q) => q.where('ap.status', '=', status ?? 'pending'))
      .orderBy('ap.created_at', 'desc')
      .orderBy('ap.id')
      .limit(200)
      .execute();
    return rows.map(toApprovalView);
  }

  async getApproval(principal: Principal, id: string): Promise<ApprovalView> {
    if (!hasRole(principal, 'admin', 'auditor')) {
      throw new CorebankError('FORBIDDEN', 'only admins and auditors may see approvals');
    }
    return this.#viewOf(this.#deps.db, id);
  }

  /**
   * A staff deposit above the threshold: held as a pending approval instead of posted. With
   * an `Idempotency-Key`, the key is kept with the answer in the same transaction as the
   * request, under the staff member's user lock (the one every money batch of theirs takes
   * first), so a retry, even a parallel one, gets the first answer and files nothing, and
   * the same key with another request is refused, as on the rest of the money path.
   */
  async requestLargeDeposit(command: DepositCommand): Promise<HeldDeposit> {
    return this.#request(
      command.actor,
      'large_deposit',
      command.description,
      {
        subjectKey: `account:${command.accountNumber}`,
        subject: {
          accountNumber: command.accountNumber,
          amount: formatMinor(command.amountMinor, command.currency),
          amountMinor: command.amountMinor.toString(),
          currency: command.currency,
          description: command.description,
        },
        ip: command.clientIp,
      },
      command.idempotency,
    );
  }

  /** An admin asks for a transaction (a posting id, as in history) to be reversed. */
  async requestReversal(
    principal: Principal,
    transactionId: string,
    reason: string,
    context: Context,
  ): Promise<ApprovalView> {
    const target = `transaction:${transactionId}`;
    await this.#authorizeAct(principal, 'approval.requested', target, context);
    const original = await this.#originalOf(this.#deps.db, transactionId);
    if (original === null) throw new CorebankError('NOT_FOUND', 'transaction not found');
    const { db } = this.#deps;
    if (await this.#alreadyReversed(db, original.entryId)) {
      throw new CorebankError('CONFLICT', 'this transaction was already reversed');
    }
    const isReversal = await db
      .selectFrom('reversals')
      .select('original_entry_id')
      .where('reversal_entry_id', '=', original.entryId)
      .executeTakeFirst();
    if (isReversal !== undefined) {
      throw new CorebankError('CONFLICT', 'a reversal cannot itself be reversed');
    }
    const requested = await this.#request(principal, 'reversal', reason, {
      subjectKey: `entry:${original.entryId}`,
      subject: {
        transactionId,
        entryId: original.entryId.toString(),
        entryKind: original.kind,
        accountNumber: original.accountNumber,
        amount: formatMinor(original.amountMinor, original.currency),
        currency: original.currency,
      },
      ip: context.ip,
    });
    if (!('pendingApproval' in requested)) throw new Error('a reversal request was replayed');
    return requested.pendingApproval;
  }

  /**
   * Approves and applies, in one transaction: the conditional status change, the effect
   * (through the ledger engine, whose refusal rolls everything back and is answered), the
   * reversal link, and the audit event. A second approver finds the status changed.
   */
  async approve(principal: Principal, id: string, context: Context): Promise<ApprovalView> {
    const target = `approval:${id}`;
    await this.#authorizeAct(principal, 'approval.approved', target, context);
    await this.#notRequester(principal, id, 'approval.approved', context);
    const { db, engine, ledger } = this.#deps;
    return db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      const decided = await trx
        .updateTable('approvals')
        .set({ status: 'approved', decided_by: principal.userId, decided_at: now })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (decided.numUpdatedRows !== 1n) {
        throw new CorebankError('CONFLICT', 'this approval was already decided');
      }
      const row = await trx
        .selectFrom('approvals')
        .select(['kind', 'subject'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const subject = JSON.parse(row.subject) as Record<string, string | null>;
      const command =
        row.kind === 'reversal'
          ? await this.#reversalCommand(trx, principal, subject, context)
          : depositCommand(principal, subject, context);
      // The money write path, in this transaction: locks, rules, postings, staff audit.
      const [outcome] = await ledger.applyAll(trx, [command]);
      if (outcome === undefined) throw new Error('the engine returned no outcome');
      if (!outcome.ok) {
        throw refusalError(outcome.error);
      }
      const transaction: TransactionView | null = outcome.transaction;
      if (transaction === null) throw new Error('an approved effect posted no transaction');
      if (command.kind === 'reversal') {
        const posting = await trx
          .selectFrom('postings')
          .select('entry_id')
          .where('id', '=', BigInt(transaction.id))
          .executeTakeFirstOrThrow();
        // Its primary key is the last word on "at most once per transaction".
        await trx
          .insertInto('reversals')
          .values({
            original_entry_id: command.originalEntryId,
            reversal_entry_id: BigInt(posting.entry_id),
            approval_id: id,
            created_at: now,
          })
          .execute();
      }
      await trx
        .updateTable('approvals')
        .set({ result: JSON.stringify({ transactionId: transaction.id }) })
        .where('id', '=', id)
        .execute();
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: principal.userId,
          action: 'approval.approved',
          target,
          outcome: 'success',
          ip: context.ip,
          details: { kind: row.kind, transactionId: transaction.id },
        },
        now,
      );
      const view = await this.#viewOf(trx, id);
      await appendEvent(trx, approvalChanged(view));
      return view;
    });
  }

  async reject(
    principal: Principal,
    id: string,
    reason: string,
    context: Context,
  ): Promise<ApprovalView> {
    const target = `approval:${id}`;
    await this.#authorizeAct(principal, 'approval.rejected', target, context);
    await this.#notRequester(principal, id, 'approval.rejected', context);
    const { db, engine } = this.#deps;
    return db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      const decided = await trx
        .updateTable('approvals')
        .set({
          status: 'rejected',
          decided_by: principal.userId,
          decided_at: now,
          decision_reason: reason,
        })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (decided.numUpdatedRows !== 1n) {
        throw new CorebankError('CONFLICT', 'this approval was already decided');
      }
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: principal.userId,
          action: 'approval.rejected',
          target,
          outcome: 'success',
          ip: context.ip,
          details: { reason },
        },
        now,
      );
      const view = await this.#viewOf(trx, id);
      await appendEvent(trx, approvalChanged(view));
      return view;
    });
  }

  // ---- helpers -------------------------------------------------------------------------

  async #denied(
    principal: Principal,
    action: 'limits.changed' | 'approval.requested' | 'approval.approved' | 'approval.rejected',
    target: string,
    ip: string | null,
    code: string,
  ): Promise<void> {
    await recordAudit(this.#deps.db, this.#deps.engine, {
      actorUserId: principal.userId,
      action,
      target,
      outcome: 'denied',
      ip,
      details: { code },
    });
  }

  /** Only admins act (auditors read, tellers handle cash); MFA-enrolled admins send a code. */
  async #authorizeAct(
    principal: Principal,
    action: 'limits.changed' | 'approval.requested' | 'approval.approved' | 'approval.rejected',
    target: string,
    context: Context,
  ): Promise<void> {
    if (!hasRole(principal, 'admin')) {
      await this.#denied(principal, action, target, context.ip, 'FORBIDDEN');
      throw new CorebankError('FORBIDDEN', 'only admins may do this');
    }
    // A wrong or missing code is audited as denied by the step-up check itself.
    await this.#deps.stepUp(principal, action, target, context.otp, context.ip);
  }

  async #notRequester(
    principal: Principal,
    id: string,
    action: 'approval.approved' | 'approval.rejected',
    context: Context,
  ): Promise<void> {
    const row = await this.#deps.db
      .selectFrom('approvals')
      .select('requested_by')
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined) throw new CorebankError('NOT_FOUND', 'approval not found');
    if (row.requested_by === principal.userId) {
      await this.#denied(principal, action, `approval:${id}`, context.ip, 'SAME_PERSON');
      throw new CorebankError(
        'SAME_PERSON',
        'whoever requested this cannot decide it: a second person must',
      );
    }
  }

  async #request(
    principal: Principal,
    kind: ApprovalsTable['kind'],
    reason: string | null,
    what: { subjectKey: string; subject: Record<string, string | null>; ip: string | null },
    idempotency: MoneyCommand['idempotency'] = null,
  ): Promise<HeldDeposit> {
    const { db, engine } = this.#deps;
    const id = crypto.randomUUID();
    return db.transaction().execute(async (trx): Promise<HeldDeposit> => {
      if (idempotency !== null) {
        // The requester's row lock, then their key: the order of every money batch.
        await lockUserGates(trx, engine, [principal.userId]);
        const stored = (
          await findIdempotencyKeys(trx, [{ userId: principal.userId, key: idempotency.key }])
        ).get(idempotencyMapKey(principal.userId, idempotency.key));
        if (stored !== undefined) {
          if (stored.requestHash !== idempotency.requestHash) {
            throw new CorebankError(
              'IDEMPOTENCY_KEY_REUSED',
              'this Idempotency-Key was already used with a different request',
            );
          }
          // The first answer, as it was (a held deposit's approval document, or the
          // transaction of the same request posted when it was under the threshold).
          const first = JSON.parse(stored.outcome) as
            | { pendingApproval: ApprovalView }
            | Omit<CommandOutcome, 'replayed'>;
          return { ...first, replayed: true } as HeldDeposit;
        }
      }
      if (kind === 'reversal') {
        const pending = await trx
          .selectFrom('approvals')
          .select('id')
          .where('subject_key', '=', what.subjectKey)
          .where('status', '=', 'pending')
          .executeTakeFirst();
        if (pending !== undefined) {
          throw new CorebankError('CONFLICT', 'a reversal of this transaction is already pending');
        }
      }
      const now = new Date().toISOString();
      await trx
        .insertInto('approvals')
        .values({
          id,
          kind,
          status: 'pending',
          requested_by: principal.userId,
          reason,
          subject: JSON.stringify(what.subject),
          subject_key: what.subjectKey,
          decided_by: null,
          decision_reason: null,
          result: null,
          created_at: now,
          decided_at: null,
        })
        .execute();
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: principal.userId,
          action: 'approval.requested',
          target: `approval:${id}`,
          outcome: 'success',
          ip: what.ip,
          details: { kind, subject: what.subjectKey },
        },
        now,
      );
      const pendingApproval = await this.#viewOf(trx, id);
      await appendEvent(trx, approvalChanged(pendingApproval));
      if (idempotency !== null) {
        const stored = await insertIdempotencyKeys(trx, [
          {
            userId: principal.userId,
            key: idempotency.key,
            requestHash: idempotency.requestHash,
            outcome: JSON.stringify({ pendingApproval }),
            now,
          },
        ]);
        if (stored !== 1n) throw new Error(`idempotency key: inserted ${stored} rows`);
      }
      return { pendingApproval, replayed: false };
    });
  }

  async #alreadyReversed(db: Db | Trx, entryId: bigint): Promise<boolean> {
    const row = await db
      .selectFrom('reversals')
      .select('reversal_entry_id')
      .where('original_entry_id', '=', entryId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** The entry a customer-visible transaction (posting id) belongs to. */
  async #originalOf(
    db: Db | Trx,
    transactionId: string,
  ): Promise<{
    entryId: bigint;
    kind: JournalEntriesTable['kind'];
    accountNumber: string;
    amountMinor: bigint;
    currency: string;
  } | null> {
    if (!/^\d{1,18}$/.test(transactionId)) return null;
    const row = await db
      .selectFrom('postings as p')
      .innerJoin('journal_entries as e', 'e.id', 'p.entry_id')
      .innerJoin('accounts as a', 'a.id', 'p.account_id')
      .select([
        'e.id',
        'e.kind',
        'e.amount_minor',
        'e.currency',
        'a.account_number',
        'a.kind as account_kind',
      ])
      .where('p.id', '=', BigInt(transactionId))
      .executeTakeFirst();
    if (row === undefined || row.account_kind !== 'customer') return null;
    return {
      entryId: BigInt(row.id),
      kind: row.kind,
      accountNumber: row.account_number,
      amountMinor: BigInt(row.amount_minor),
      currency: row.currency,
    };
  }

  async #reversalCommand(
    trx: Trx,
    principal: Principal,
    subject: Record<string, string | null>,
    context: Context,
  ): Promise<ReversalCommand> {
    const entryId = BigInt(subject.entryId ?? '0');
    if (await this.#alreadyReversed(trx, entryId)) {
      throw new CorebankError('CONFLICT', 'this transaction was already reversed');
    }
    const entry = await trx
      .selectFrom('journal_entries')
      .select(['kind', 'amount_minor', 'currency'])
      .where('id', '=', entryId)
      .executeTakeFirstOrThrow();
    const postings = await trx
      .selectFrom('postings as p')
      .innerJoin('accounts as a', 'a.id', 'p.account_id')
      .innerJoin('accounts as c', 'c.id', 'p.counterparty_account_id')
      .select([
        'p.id',
        'p.direction',
        'p.amount_minor',
        'a.account_number',
        'a.kind as account_kind',
        'c.account_number as counterparty_number',
      ])
      .where('p.entry_id', '=', entryId)
      .orderBy('p.id')
      .execute();
    // The first customer account's leg goes first: the engine answers with it.
    const ordered = [...postings].sort(
      (a, b) => Number(a.account_kind !== 'customer') - Number(b.account_kind !== 'customer'),
    );
    const first = ordered[0];
    if (first === undefined) throw new Error(`entry ${entryId} has no postings`);
    return {
      kind: 'reversal',
      actor: principal,
      clientIp: context.ip,
      amountMinor: BigInt(entry.amount_minor),
      currency: entry.currency,
      description: `reversal of transaction ${subject.transactionId ?? ''}`,
      idempotency: null,
      accountNumber: first.account_number,
      originalEntryId: entryId,
      originalKind: entry.kind,
      legs: ordered.map((p) => ({
        accountNumber: p.account_number,
        direction: p.direction as PostingsTable['direction'],
        amountMinor: BigInt(p.amount_minor),
        counterpartyNumber: p.counterparty_number,
      })),
    };
  }

  #approvalQuery(db: Db | Trx = this.#deps.db) {
    return db
      .selectFrom('approvals as ap')
      .innerJoin('users as r', 'r.id', 'ap.requested_by')
      .leftJoin('users as d', 'd.id', 'ap.decided_by')
      .selectAll('ap')
      .select(['r.username as requested_by_username', 'd.username as decided_by_username']);
  }

  async #viewOf(db: Db | Trx, id: string): Promise<ApprovalView> {
    const row = await this.#approvalQuery(db).where('ap.id', '=', id).executeTakeFirst();
    if (row === undefined) throw new CorebankError('NOT_FOUND', 'approval not found');
    return toApprovalView(row);
  }
}

function depositCommand(
  principal: Principal,
  subject: Record<string, string | null>,
  context: Context,
): DepositCommand {
  const currency = subject.currency ?? '';
  return {
    kind: 'deposit',
    actor: principal,
    clientIp: context.ip,
    amountMinor: BigInt(subject.amountMinor ?? '0'),
    currency,
    description: subject.description ?? null,
    idempotency: null,
    accountNumber: subject.accountNumber ?? '',
  };
}

function toApprovalView(row: {
  id: string;
  kind: ApprovalsTable['kind'];
  status: ApprovalsTable['status'];
  requested_by: string;
  requested_by_username: string;
  decided_by: string | null;
  decided_by_username: string | null;
  reason: string | null;
  decision_reason: string | null;
  subject: string;
  result: string | null;
  created_at: string | Date;
  decided_at: string | Date | null;
}): ApprovalView {
  const subject = JSON.parse(row.subject) as Record<string, string | null>;
  delete subject.amountMinor;
  delete subject.entryId;
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    requestedBy: row.requested_by,
    requestedByUsername: row.requested_by_username,
    decidedBy: row.decided_by,
    decidedByUsername: row.decided_by_username,
    reason: row.reason,
    decisionReason: row.decision_reason,
    createdAt: iso(row.created_at),
    decidedAt: row.decided_at === null ? null : iso(row.decided_at),
    subject,
    result: row.result === null ? null : (JSON.parse(row.result) as { transactionId: string }),
  };
}
