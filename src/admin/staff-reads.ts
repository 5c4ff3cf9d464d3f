import { accountNumberProblem } from '../accounts/account-number.ts';
import { AUDIT_ACTIONS } from '../audit/audit.ts';
import type { Principal } from '../auth/roles.ts';
import type { Db } from '../db/database.ts';
import { decodeIdCursor, encodeIdCursor, type Page, readPage } from '../db/paging.ts';
import { CorebankError } from '../errors.ts';
import { listCustomerPostings, type TransactionFilter } from '../ledger/ledger-repository.ts';
import type { TransactionType, TransactionView } from '../ledger/transaction-view.ts';
import { toTransactionView } from '../ledger/transaction-view.ts';
import { formatMinor, minorFromMajorUnits, parseAmount } from '../money/money.ts';
import { type AdminUserView, authorize, toAdminUserView } from './access.ts';
import { type AuditFilter, listAuditEvents, listUsers, readStats } from './admin-repository.ts';
import { decodeUserCursor, encodeUserCursor } from './paging.ts';

export interface StatsView {
  users: number;
  accounts: number;
  lockedUsers: number;
  frozenAccounts: number;
  balances: Array<{ currency: string; total: string }>;
}

export interface AuditEventView {
  id: string;
  at: string;
  /** The acting user's id; null for the operator CLI and anonymous callers. */
  actor: string | null;
  action: string;
  target: string | null;
  outcome: 'success' | 'failure' | 'denied';
  ip: string | null;
  details: Record<string, unknown> | null;
}

export interface TransactionQuery {
  account?: string | undefined;
  type?: TransactionType | undefined;
  currency?: string | undefined;
  minAmount?: string | undefined;
  maxAmount?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

export interface AuditQuery {
  action?: string | undefined;
  actor?: string | undefined;
  target?: string | undefined;
  outcome?: 'success' | 'failure' | 'denied' | undefined;
  limit: number;
  cursor?: string | undefined;
}

export interface StaffReadsDeps {
  db: Db;
  /** The configured largest amount, which also bounds the monitor's amount filters. */
  maxAmountMajor: bigint;
}

/** Splits a contract transaction type into the journal entry kind and posting direction. */
function typeFilter(
  type: TransactionType | undefined,
): Pick<TransactionFilter, 'entryKind' | 'direction'> {
  switch (type) {
    case undefined:
      return { entryKind: null, direction: null };
    case 'deposit':
      return { entryKind: 'deposit', direction: null };
    case 'withdrawal':
      return { entryKind: 'withdrawal', direction: null };
    case 'transfer_in':
      return { entryKind: 'transfer', direction: 'credit' };
    case 'transfer_out':
      return { entryKind: 'transfer', direction: 'debit' };
  }
}

/** An ISO 8601 timestamp (any offset) as the UTC string the database stores. */
function utcTimestamp(value: string | undefined, field: string): string | null {
  if (value === undefined) return null;
  const time = Date.parse(value);
  if (Number.isNaN(time)) {
    throw new CorebankError('VALIDATION_FAILED', `${field} is not a valid timestamp`, field);
  }
  return new Date(time).toISOString();
}

function parseDetails(details: string | null): Record<string, unknown> | null {
  if (details === null) return null;
  try {
    const parsed: unknown = JSON.parse(details);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** Staff-only reads: statistics, users, the transaction monitor and the audit trail. */
export class StaffReads {
  readonly #deps: StaffReadsDeps;

  constructor(deps: StaffReadsDeps) {
    this.#deps = deps;
  }

  async stats(principal: Principal): Promise<StatsView> {
    authorize(principal, 'read');
    const stats = await readStats(this.#deps.db);
    return {
      users: Number(stats.users),
      accounts: Number(stats.accounts),
      lockedUsers: Number(stats.lockedUsers),
      frozenAccounts: Number(stats.frozenAccounts),
      balances: stats.balances.map(({ currency, totalMinor }) => ({
        currency,
        total: formatMinor(totalMinor, currency),
      })),
    };
  }

  async users(
    principal: Principal,
    query: { status?: 'locked' | 'active' | undefined; limit: number; cursor?: string | undefined },
  ): Promise<Page<AdminUserView>> {
    authorize(principal, 'read');
    const after = decodeUserCursor(query.cursor);
    const locked = query.status === undefined ? null : query.status === 'locked';
    return readPage(
      query.limit,
      (limit) => listUsers(this.#deps.db, { locked }, { limit, after }),
      (last) => encodeUserCursor({ createdAt: last.createdAt, id: last.id }),
      toAdminUserView,
    );
  }

  /** The transaction monitor: every customer account's postings, newest first. */
  async transactions(
    principal: Principal,
    query: TransactionQuery,
  ): Promise<Page<TransactionView>> {
    authorize(principal, 'read');
    const beforePostingId = decodeIdCursor('m1:', query.cursor);
    if (query.account !== undefined) {
      const problem = accountNumberProblem(query.account);
      if (problem !== null) throw new CorebankError('VALIDATION_FAILED', problem, 'account');
    }
    // Amount bounds are decimal strings in major units of one currency, parsed by the same
    // strict rules as amounts that move money. Without a `currency` they are USD (the API's
    // default currency), and an amount filter then only matches transactions in it: the
    // same "100" means very different sums in USD and JPY.
    const amountCurrency = query.currency ?? 'USD';
    const bound = (value: string | undefined, field: string): bigint | null =>
      value === undefined
        ? null
        : parseAmount(value, amountCurrency, {
            maxMinor: minorFromMajorUnits(this.#deps.maxAmountMajor, amountCurrency),
            field,
          });
    const minAmountMinor = bound(query.minAmount, 'minAmount');
    const maxAmountMinor = bound(query.maxAmount, 'maxAmount');
    if (minAmountMinor !== null && maxAmountMinor !== null && minAmountMinor > maxAmountMinor) {
      throw new CorebankError(
        'VALIDATION_FAILED',
        'maxAmount must not be less than minAmount',
        'maxAmount',
      );
    }
    const from = utcTimestamp(query.from, 'from');
    const to = utcTimestamp(query.to, 'to');
    if (from !== null && to !== null && from >= to) {
      throw new CorebankError('VALIDATION_FAILED', 'to must be later than from', 'to');
    }
    const filter: TransactionFilter = {
      accountNumber: query.account ?? null,
      ...typeFilter(query.type),
      currency:
        query.currency ?? (minAmountMinor !== null || maxAmountMinor !== null ? 'USD' : null),
      minAmountMinor,
      maxAmountMinor,
      from,
      to,
    };
    return readPage(
      query.limit,
      (limit) => listCustomerPostings(this.#deps.db, filter, { limit, beforePostingId }),
      (last) => encodeIdCursor('m1:', last.postingId),
      (row) =>
        toTransactionView({
          ...row,
          counterpartyAccount: row.counterpartyKind === 'customer' ? row.counterpartyNumber : null,
        }),
    );
  }

  async auditEvents(principal: Principal, query: AuditQuery): Promise<Page<AuditEventView>> {
    authorize(principal, 'read');
    const beforeId = decodeIdCursor('a1:', query.cursor);
    if (
      query.action !== undefined &&
      !(AUDIT_ACTIONS as readonly string[]).includes(query.action)
    ) {
      throw new CorebankError('VALIDATION_FAILED', 'action is not a known audit action', 'action');
    }
    const filter: AuditFilter = {
      action: query.action ?? null,
      actorUserId: query.actor ?? null,
      target: query.target ?? null,
      outcome: query.outcome ?? null,
    };
    return readPage(
      query.limit,
      (limit) => listAuditEvents(this.#deps.db, filter, { limit, beforeId }),
      (last) => encodeIdCursor('a1:', last.id),
      (row) => ({
        id: row.id.toString(),
        at: row.at,
        actor: row.actorUserId,
        action: row.action,
        target: row.target,
        outcome: row.outcome,
        ip: row.ip,
        details: parseDetails(row.details),
      }),
    );
  }
}
