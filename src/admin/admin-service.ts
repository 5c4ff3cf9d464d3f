import { accountNumberProblem } from '../accounts/account-number.ts';
import { lockAccounts } from '../accounts/accounts-repository.ts';
import { type AccountView, type Page, toAccountView } from '../accounts/accounts-service.ts';
import { AUDIT_ACTIONS, type AuditAction, appendAudit, recordAudit } from '../audit/audit.ts';
import { assertStaffMfa } from '../auth/mfa.ts';
import { hasRole, type Principal, type Role } from '../auth/roles.ts';
import { revokeUserSessions } from '../auth/sessions-repository.ts';
import type { Db, Engine } from '../db/database.ts';
import { CorebankError, type ErrorCode, isCorebankError } from '../errors.ts';
import { accountStatusChanged, userUnlocked } from '../events/event-data.ts';
import { appendEvent } from '../events/outbox.ts';
import { listCustomerPostings, type TransactionFilter } from '../ledger/ledger-repository.ts';
import type { TransactionType, TransactionView } from '../ledger/transaction-view.ts';
import { toTransactionView } from '../ledger/transaction-view.ts';
import { formatMinor, minorFromMajorUnits, parseAmount } from '../money/money.ts';
import {
  type AdminUserRecord,
  type AuditFilter,
  clearUserLock,
  findAdminUser,
  listAuditEvents,
  listUsers,
  lockAdminUser,
  lockUserByUsername,
  readStats,
  replaceUserRoles,
  setAccountStatus,
  type UserCursor,
} from './admin-repository.ts';

/** What staff see of a user. */
export interface AdminUserView {
  id: string;
  username: string;
  fullName: string;
  roles: Role[];
  locked: boolean;
  lockReason: string | null;
  lockedAt: string | null;
  failedPinAttempts: number;
  createdAt: string;
}

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

/** Reads are open to admins and auditors; actions to admins only. */
export type StaffPermission = 'read' | 'act';

export interface ActionContext {
  /** The acting staff member's one-time code, when they have MFA enabled. */
  otp: string | undefined;
  /** Client address for the audit trail. */
  ip: string | null;
  /** Why staff took the action, kept in the audit event. */
  reason: string | null;
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

export interface AdminServiceDeps {
  db: Db;
  engine: Engine;
  /** The configured largest amount, which also bounds the monitor's amount filters. */
  maxAmountMajor: bigint;
}

/** Audited actions and the target each one names, for refusals before the service runs. */
export type AdminActionName = 'user.unlocked' | 'account.frozen' | 'account.unfrozen';

export function toAdminUserView(user: AdminUserRecord): AdminUserView {
  return {
    id: user.id,
    username: user.username,
    fullName: user.fullName,
    roles: user.roles,
    locked: user.lockedAt !== null,
    lockReason: user.lockReason,
    lockedAt: user.lockedAt,
    failedPinAttempts: user.failedPinAttempts,
    createdAt: user.createdAt,
  };
}

/*
 * Cursors are opaque to clients but plain to us: a version prefix and the position of the
 * last row shown. Anything that does not decode to exactly that shape is refused, so a
 * crafted cursor can never reach SQL as anything but a bounded integer or a checked string.
 */
const MAX_ID = 9_223_372_036_854_775_807n;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function badCursor(): CorebankError {
  return new CorebankError('VALIDATION_FAILED', 'cursor is not one this API issued', 'cursor');
}

function encodeIdCursor(prefix: string, id: bigint): string {
  return Buffer.from(`${prefix}${id}`).toString('base64url');
}

function decodeIdCursor(prefix: string, cursor: string | undefined): bigint | null {
  if (cursor === undefined) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const digits = text.startsWith(prefix) ? text.slice(prefix.length) : '';
  if (!/^[1-9]\d{0,18}$/.test(digits) || BigInt(digits) > MAX_ID) throw badCursor();
  return BigInt(digits);
}

function encodeUserCursor(position: UserCursor): string {
  return Buffer.from(`u1:${position.createdAt}|${position.id}`).toString('base64url');
}

function decodeUserCursor(cursor: string | undefined): UserCursor | null {
  if (cursor === undefined) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const [createdAt, id] = text.startsWith('u1:') ? text.slice(3).split('|') : [];
  if (createdAt === undefined || id === undefined || !ISO_UTC.test(createdAt) || !UUID.test(id)) {
    throw badCursor();
  }
  return { createdAt, id };
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

/**
 * Staff-only reads and actions. Every action (unlock, freeze, unfreeze) writes its audit
 * event in the same database transaction as the change, so the trail can neither miss a
 * change nor claim one that was rolled back; every refused attempt by an authenticated
 * caller is audited too, as `failure` (the target was wrong) or `denied` (the caller may
 * not, or did not prove MFA).
 */
export class AdminService {
  readonly #deps: AdminServiceDeps;

  constructor(deps: AdminServiceDeps) {
    this.#deps = deps;
  }

  /**
   * Throws FORBIDDEN unless the principal may do this. Only admins act; admins and auditors
   * read. Tellers are staff too, but they handle cash for customers, and seeing every
   * user's lock state or the audit trail is not part of that job (least privilege).
   */
  authorize(principal: Principal, permission: StaffPermission): void {
    const allowed =
      permission === 'act' ? hasRole(principal, 'admin') : hasRole(principal, 'admin', 'auditor');
    if (!allowed) {
      throw new CorebankError(
        'FORBIDDEN',
        permission === 'act' ? 'only admins may do this' : 'only admins and auditors may see this',
      );
    }
  }

  /**
   * Records an action attempt that was refused before it reached the service (the caller's
   * role may not act). Probing staff actions is worth knowing about, whoever tries it.
   */
  async recordDenied(
    principal: Principal,
    action: AdminActionName,
    target: string | null,
    ip: string | null,
    code: ErrorCode,
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

  async stats(principal: Principal): Promise<StatsView> {
    this.authorize(principal, 'read');
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
    this.authorize(principal, 'read');
    const after = decodeUserCursor(query.cursor);
    const locked = query.status === undefined ? null : query.status === 'locked';
    const rows = await listUsers(this.#deps.db, { locked }, { limit: query.limit + 1, after });
    const shown = rows.slice(0, query.limit);
    const last = shown.at(-1);
    return {
      data: shown.map(toAdminUserView),
      nextCursor:
        rows.length > query.limit && last !== undefined
          ? encodeUserCursor({ createdAt: last.createdAt, id: last.id })
          : null,
    };
  }

  /**
   * Checks the acting admin's second factor. A wrong or missing code is audited as denied
   * (in its own transaction: there is no change to go with it) and then refused.
   */
  async #assertMfa(
    principal: Principal,
    action: AdminActionName,
    target: string,
    context: ActionContext,
  ): Promise<void> {
    try {
      await assertStaffMfa(this.#deps.db, principal.userId, context.otp);
    } catch (error) {
      if (isCorebankError(error)) {
        await this.recordDenied(principal, action, target, context.ip, error.code);
      }
      throw error;
    }
  }

  /**
   * Lifts a user's lock and resets their PIN failure counter. Unlocking a user who is not
   * locked answers 200 and changes nothing but a stale failure counter; it is still audited.
   */
  async unlockUser(
    principal: Principal,
    userId: string,
    context: ActionContext,
  ): Promise<AdminUserView> {
    this.authorize(principal, 'act');
    const { db, engine } = this.#deps;
    const target = `user:${userId}`;
    // Separation of duties: a locked admin must be unlocked by another admin, so a stolen
    // admin token (or a locked-out insider) cannot lift its own lock.
    if (userId === principal.userId) {
      await this.recordDenied(principal, 'user.unlocked', target, context.ip, 'FORBIDDEN');
      throw new CorebankError('FORBIDDEN', 'an admin cannot unlock themselves');
    }
    await this.#assertMfa(principal, 'user.unlocked', target, context);
    const result = await db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      const user = await lockAdminUser(trx, engine, userId);
      if (user === null) {
        await appendAudit(
          trx,
          engine,
          {
            actorUserId: principal.userId,
            action: 'user.unlocked',
            target,
            outcome: 'failure',
            ip: context.ip,
            details: { code: 'NOT_FOUND' },
          },
          now,
        );
        return null;
      }
      const wasLocked = user.lockedAt !== null;
      await clearUserLock(trx, user.id, now);
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: principal.userId,
          action: 'user.unlocked',
          target,
          outcome: 'success',
          ip: context.ip,
          details: {
            changed: wasLocked || user.failedPinAttempts > 0,
            wasLocked,
            previousLockReason: user.lockReason,
            failedPinAttempts: user.failedPinAttempts,
            ...(context.reason === null ? {} : { reason: context.reason }),
          },
        },
        now,
      );
      if (wasLocked) await appendEvent(trx, userUnlocked(user.id, principal.userId, now));
      return user.id;
    });
    // The refusal is thrown only after the audit event committed.
    if (result === null) throw new CorebankError('NOT_FOUND', 'user not found');
    const user = await findAdminUser(db, result);
    if (user === null) throw new Error('user vanished after unlock');
    return toAdminUserView(user);
  }

  /**
   * Freezes (`frozen`) or unfreezes (`active`) a customer account. The account row is
   * locked first, the same lock the ledger takes, so a freeze waits for a movement already
   * in flight and every later movement sees it. Setting the status an account already has
   * answers 200 and changes nothing (idempotent, as a retry after a lost response must be);
   * the attempt is still audited with `changed: false`.
   */
  async setAccountStatus(
    principal: Principal,
    accountNumber: string,
    status: 'active' | 'frozen',
    context: ActionContext,
  ): Promise<AccountView> {
    this.authorize(principal, 'act');
    const { db, engine } = this.#deps;
    const action: AuditAction = status === 'frozen' ? 'account.frozen' : 'account.unfrozen';
    const target = `account:${accountNumber}`;
    const problem = accountNumberProblem(accountNumber);
    if (problem !== null) {
      await recordAudit(db, engine, {
        actorUserId: principal.userId,
        action,
        target: null,
        outcome: 'failure',
        ip: context.ip,
        details: { code: 'VALIDATION_FAILED' },
      });
      throw new CorebankError('VALIDATION_FAILED', problem, 'accountNumber');
    }
    await this.#assertMfa(principal, action, target, context);
    const account = await db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      const locked = (await lockAccounts(trx, engine, [accountNumber])).get(accountNumber);
      if (locked === undefined || locked.kind !== 'customer') {
        await appendAudit(
          trx,
          engine,
          {
            actorUserId: principal.userId,
            action,
            target,
            outcome: 'failure',
            ip: context.ip,
            details: { code: 'NOT_FOUND' },
          },
          now,
        );
        return null;
      }
      const changed = locked.status !== status;
      if (changed) await setAccountStatus(trx, locked.id, status);
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: principal.userId,
          action,
          target,
          outcome: 'success',
          ip: context.ip,
          details: {
            changed,
            previousStatus: locked.status,
            ...(context.reason === null ? {} : { reason: context.reason }),
          },
        },
        now,
      );
      if (changed) {
        await appendEvent(
          trx,
          accountStatusChanged(accountNumber, status, principal.userId, context.reason, now),
        );
      }
      return { ...locked, status };
    });
    if (account === null) throw new CorebankError('NOT_FOUND', 'account not found');
    return toAccountView(account);
  }

  /** The transaction monitor: every customer account's postings, newest first. */
  async transactions(
    principal: Principal,
    query: TransactionQuery,
  ): Promise<Page<TransactionView>> {
    this.authorize(principal, 'read');
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
    const rows = await listCustomerPostings(this.#deps.db, filter, {
      limit: query.limit + 1,
      beforePostingId,
    });
    const shown = rows.slice(0, query.limit);
    const last = shown.at(-1);
    return {
      data: shown.map((row) =>
        toTransactionView({
          ...row,
          counterpartyAccount: row.counterpartyKind === 'customer' ? row.counterpartyNumber : null,
        }),
      ),
      nextCursor:
        rows.length > query.limit && last !== undefined
          ? encodeIdCursor('m1:', last.postingId)
          : null,
    };
  }

  async auditEvents(principal: Principal, query: AuditQuery): Promise<Page<AuditEventView>> {
    this.authorize(principal, 'read');
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
    const rows = await listAuditEvents(this.#deps.db, filter, {
      limit: query.limit + 1,
      beforeId,
    });
    const shown = rows.slice(0, query.limit);
    const last = shown.at(-1);
    return {
      data: shown.map((row) => ({
        id: row.id.toString(),
        at: row.at,
        actor: row.actorUserId,
        action: row.action,
        target: row.target,
        outcome: row.outcome,
        ip: row.ip,
        details: parseDetails(row.details),
      })),
      nextCursor:
        rows.length > query.limit && last !== undefined ? encodeIdCursor('a1:', last.id) : null,
    };
  }
}

export interface RolesChange {
  user: AdminUserView;
  previousRoles: Role[];
  sessionsRevoked: number;
}

/**
 * The operator CLI's role change (the API never changes roles). Roles are replaced, the
 * change is audited and every open session of the user is revoked, all in one transaction:
 * access tokens carry the roles they were issued with, so a demoted admin must not keep
 * acting as one until their token expires.
 */
export async function changeUserRoles(
  database: { db: Db; engine: Engine },
  username: string,
  roles: readonly Role[],
): Promise<RolesChange> {
  const { db, engine } = database;
  const unique = [...new Set(roles)].sort();
  if (unique.length === 0) {
    throw new CorebankError('VALIDATION_FAILED', 'a user needs at least one role', 'role');
  }
  const outcome = await db.transaction().execute(async (trx) => {
    const now = new Date().toISOString();
    const user = await lockUserByUsername(trx, engine, username.toLowerCase());
    if (user === null) return null;
    await replaceUserRoles(trx, user.id, unique, now);
    const sessionsRevoked = (await revokeUserSessions(trx, user.id, 'roles_changed', now, null))
      .length;
    await appendAudit(
      trx,
      engine,
      {
        actorUserId: null,
        action: 'user.roles_changed',
        target: `user:${user.id}`,
        outcome: 'success',
        ip: null,
        details: {
          from: user.roles.join(','),
          to: unique.join(','),
          sessionsRevoked,
        },
      },
      now,
    );
    return { userId: user.id, previousRoles: user.roles, sessionsRevoked };
  });
  if (outcome === null) throw new CorebankError('NOT_FOUND', `no user named ${username}`);
  const user = await findAdminUser(db, outcome.userId);
  if (user === null) throw new Error('user vanished after a role change');
  return {
    user: toAdminUserView(user),
    previousRoles: outcome.previousRoles,
    sessionsRevoked: outcome.sessionsRevoked,
  };
}
