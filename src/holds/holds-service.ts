import crypto from 'node:crypto';
import { accountNumberProblem } from '../accounts/account-number.ts';
import { findAccountByNumber } from '../accounts/accounts-repository.ts';
import { isReadingStaff, type Principal } from '../auth/roles.ts';
import type { Db } from '../db/database.ts';
import { decodeIdCursor, encodeIdCursor, type Page } from '../db/paging.ts';
import type { HoldsTable } from '../db/schema.ts';
import { CorebankError } from '../errors.ts';
import type { CommandBatcher } from '../ledger/batcher.ts';
import {
  type CommandOutcome,
  type HoldOutcome,
  type HoldView,
  type Refusal,
  refusalError,
} from '../ledger/commands/command.ts';
import { accessTo, mayMoveMoney } from '../ledger/rules.ts';
import { minorFromMajorUnits, parseAmount } from '../money/money.ts';
import {
  ensureSystemAccount,
  findHold,
  type HoldRecord,
  listHolds,
  settlementAccountNumber,
  toHoldView,
} from './holds-repository.ts';

export const HOLD_MIN_SECONDS = 60;
export const HOLD_MAX_SECONDS = 2_592_000;
export const HOLD_DEFAULT_SECONDS = 604_800;

export interface HoldsServiceDeps {
  db: Db;
  batcher: CommandBatcher;
  maxAmountMajor: bigint;
  clock?: () => Date;
}

function hashOf(parts: unknown[]): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

function refused(outcome: { ok: false; error: Refusal }): never {
  throw refusalError(outcome.error);
}

const NOT_FOUND = 'hold not found';

/**
 * Holds through the API: placing, capturing and voiding go through the write path (the
 * hold kinds in src/ledger/commands/); reads come straight from the holds table. Another
 * customer's hold, or a hold on another customer's account, answers exactly like a hold
 * that does not exist.
 */
export class HoldsService {
  readonly #deps: HoldsServiceDeps;
  readonly #clock: () => Date;

  constructor(deps: HoldsServiceDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? (() => new Date());
  }

  async place(
    actor: Principal,
    accountNumber: string,
    body: {
      amount: unknown;
      description?: string | undefined;
      expiresInSeconds?: number | undefined;
    },
    idempotencyKey: string | null,
    clientIp: string | null,
  ): Promise<HoldOutcome> {
    const forbidden = mayMoveMoney(actor);
    if (forbidden !== null) throw new CorebankError(forbidden.code, forbidden.message);
    const account = await findAccountByNumber(this.#deps.db, accountNumber);
    const access = accessTo(actor, account, true);
    if (typeof access !== 'string') throw new CorebankError(access.code, access.message);
    if (account === null) throw new Error('access granted to a missing account');
    const seconds = body.expiresInSeconds ?? HOLD_DEFAULT_SECONDS;
    const amountMinor = parseAmount(body.amount, account.currency, {
      maxMinor: minorFromMajorUnits(this.#deps.maxAmountMajor, account.currency),
      field: 'amount',
    });
    const description = body.description ?? null;
    const outcome = await this.#deps.batcher.submit({
      kind: 'hold_place',
      actor,
      clientIp,
      amountMinor,
      currency: account.currency,
      description,
      accountNumber,
      holdId: crypto.randomUUID(),
      expiresAt: new Date(this.#clock().getTime() + seconds * 1000).toISOString(),
      idempotency:
        idempotencyKey === null
          ? null
          : {
              key: idempotencyKey,
              requestHash: hashOf([
                'hold_place',
                accountNumber,
                `${amountMinor}`,
                description,
                seconds,
              ]),
            },
    });
    if (!outcome.ok) refused(outcome);
    return outcome;
  }

  async capture(
    actor: Principal,
    holdId: string,
    body: { amount?: unknown; toAccount?: string | undefined },
    idempotencyKey: string | null,
    clientIp: string | null,
  ): Promise<CommandOutcome> {
    const hold = await this.#actionable(actor, holdId);
    const toAccountNumber = body.toAccount ?? null;
    if (toAccountNumber !== null) {
      const problem = accountNumberProblem(toAccountNumber);
      if (problem !== null) throw new CorebankError('VALIDATION_FAILED', problem, 'toAccount');
      if (toAccountNumber === hold.accountNumber) {
        throw new CorebankError(
          'SAME_ACCOUNT',
          'cannot capture a hold to its own account',
          'toAccount',
        );
      }
    } else {
      await ensureSystemAccount(
        this.#deps.db,
        settlementAccountNumber(hold.currency),
        hold.currency,
        `${hold.currency} settlement`,
      );
    }
    const requestedMinor =
      body.amount === undefined
        ? null
        : parseAmount(body.amount, hold.currency, {
            maxMinor: minorFromMajorUnits(this.#deps.maxAmountMajor, hold.currency),
            field: 'amount',
          });
    const outcome = await this.#deps.batcher.submit({
      kind: 'hold_capture',
      actor,
      clientIp,
      amountMinor: requestedMinor ?? hold.amountMinor,
      currency: hold.currency,
      description: hold.description,
      accountNumber: hold.accountNumber,
      holdId,
      toAccountNumber,
      requestedMinor,
      idempotency:
        idempotencyKey === null
          ? null
          : {
              key: idempotencyKey,
              requestHash: hashOf(['hold_capture', holdId, `${requestedMinor}`, toAccountNumber]),
            },
    });
    if (!outcome.ok) refused(outcome);
    return outcome;
  }

  async void(
    actor: Principal,
    holdId: string,
    idempotencyKey: string | null,
    clientIp: string | null,
  ): Promise<HoldOutcome> {
    const hold = await this.#actionable(actor, holdId);
    const outcome = await this.#deps.batcher.submit({
      kind: 'hold_void',
      actor,
      clientIp,
      amountMinor: hold.amountMinor,
      currency: hold.currency,
      description: hold.description,
      accountNumber: hold.accountNumber,
      holdId,
      idempotency:
        idempotencyKey === null
          ? null
          : { key: idempotencyKey, requestHash: hashOf(['hold_void', holdId]) },
    });
    if (!outcome.ok) refused(outcome);
    return outcome;
  }

  async get(actor: Principal, holdId: string): Promise<HoldView> {
    const hold = await findHold(this.#deps.db, holdId);
    if (hold === null || !(await this.#mayRead(actor, hold.accountNumber))) {
      throw new CorebankError('NOT_FOUND', NOT_FOUND);
    }
    return toHoldView(hold, this.#clock().toISOString());
  }

  async list(
    actor: Principal,
    accountNumber: string,
    query: {
      status?: HoldsTable['status'] | undefined;
      limit: number;
      cursor?: string | undefined;
    },
  ): Promise<Page<HoldView>> {
    const account = await findAccountByNumber(this.#deps.db, accountNumber);
    if (account === null || !(await this.#mayRead(actor, accountNumber))) {
      throw new CorebankError('NOT_FOUND', 'account not found');
    }
    const now = this.#clock().toISOString();
    const before = decodeIdCursor('h1:', query.cursor);
    const rows = await listHolds(this.#deps.db, account.id, {
      status: query.status ?? null,
      now,
      limit: query.limit + 1,
      before: before === null ? null : new Date(Number(before)).toISOString(),
    });
    const shown = rows.slice(0, query.limit);
    const last = shown.at(-1);
    return {
      data: shown.map((hold) => toHoldView(hold, now)),
      nextCursor:
        rows.length > query.limit && last !== undefined
          ? encodeIdCursor('h1:', BigInt(Date.parse(last.createdAt)))
          : null,
    };
  }

  /** The hold, if the actor may act on its account (else NOT_FOUND, as for a missing one). */
  async #actionable(actor: Principal, holdId: string): Promise<HoldRecord> {
    const forbidden = mayMoveMoney(actor);
    if (forbidden !== null) throw new CorebankError(forbidden.code, forbidden.message);
    const hold = await findHold(this.#deps.db, holdId);
    if (hold === null) throw new CorebankError('NOT_FOUND', NOT_FOUND);
    const account = await findAccountByNumber(this.#deps.db, hold.accountNumber);
    const access = accessTo(actor, account, true);
    if (typeof access !== 'string') {
      throw new CorebankError(
        access.code,
        access.code === 'NOT_FOUND' ? NOT_FOUND : access.message,
      );
    }
    return hold;
  }

  async #mayRead(actor: Principal, accountNumber: string): Promise<boolean> {
    if (isReadingStaff(actor)) return true;
    const account = await findAccountByNumber(this.#deps.db, accountNumber);
    return account !== null && account.kind === 'customer' && account.userId === actor.userId;
  }
}
