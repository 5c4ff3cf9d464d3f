import crypto from 'node:crypto';
import { accountNumberProblem } from '../accounts/account-number.ts';
import { findAccountByNumber } from '../accounts/accounts-repository.ts';
import { hasRole, isCashStaff, type Principal } from '../auth/roles.ts';
import type { Db } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { minorFromMajorUnits, parseAmount } from '../money/money.ts';
import type { CommandBatcher } from './batcher.ts';
import type { CommandOutcome, MoneyCommand } from './engine.ts';

export interface MoneyRequest {
  amount: unknown;
  currency?: string | undefined;
  description?: string | undefined;
  pin?: string | undefined;
  toAccount?: string | undefined;
}

export interface MoneyServiceDeps {
  db: Db;
  batcher: CommandBatcher;
  maxAmountMajor: bigint;
}

type Kind = MoneyCommand['kind'];

/**
 * Turns a validated API request into a ledger command: checks what can be checked without
 * locks (the account is visible to the caller, the amount fits the account's currency, the
 * destination's check digits), hashes the request for idempotency, and hands the command
 * to the engine. Rules that depend on balances are the engine's, under its locks.
 */
/** What never changes about an account once opened: whose it is, its kind and currency. */
interface AccountFacts {
  userId: string | null;
  kind: 'customer' | 'system';
  currency: string;
}

const ACCOUNT_FACTS_LIMIT = 100_000;

export class MoneyService {
  readonly #deps: MoneyServiceDeps;
  /**
   * Immutable account facts, remembered (bounded) so the checks before batching cost no
   * query. Only facts no operation can change are kept here; status and balance are read by
   * the engine under its locks.
   */
  readonly #facts = new Map<string, AccountFacts>();

  constructor(deps: MoneyServiceDeps) {
    this.#deps = deps;
  }

  async submit(
    kind: Kind,
    actor: Principal,
    accountNumber: string,
    request: MoneyRequest,
    idempotencyKey: string | null,
    clientIp: string | null = null,
  ): Promise<CommandOutcome> {
    // Auditors read everything and move nothing.
    if (!hasRole(actor, 'customer', 'teller', 'admin')) {
      throw new CorebankError('FORBIDDEN', 'this role may not move money');
    }
    const actsAsStaff = kind !== 'transfer' && isCashStaff(actor);
    const account = await this.#accountFacts(accountNumber);
    if (
      account === null ||
      account.kind !== 'customer' ||
      (!actsAsStaff && account.userId !== actor.userId)
    ) {
      throw new CorebankError('NOT_FOUND', 'account not found');
    }
    const currency = request.currency ?? account.currency;
    if (currency !== account.currency) {
      throw new CorebankError(
        'CURRENCY_MISMATCH',
        `the account holds ${account.currency}, not ${currency}`,
        'currency',
      );
    }
    const amountMinor = parseAmount(request.amount, currency, {
      maxMinor: minorFromMajorUnits(this.#deps.maxAmountMajor, currency),
      field: 'amount',
    });
    let toAccountNumber = '';
    if (kind === 'transfer') {
      toAccountNumber = request.toAccount ?? '';
      const problem = accountNumberProblem(toAccountNumber);
      if (problem !== null) throw new CorebankError('VALIDATION_FAILED', problem, 'toAccount');
      if (toAccountNumber === accountNumber) {
        throw new CorebankError('SAME_ACCOUNT', 'cannot transfer to the same account', 'toAccount');
      }
    }
    if (kind !== 'deposit' && !actsAsStaff && request.pin === undefined) {
      throw new CorebankError('VALIDATION_FAILED', 'pin is required', 'pin');
    }
    const description = request.description ?? null;
    const idempotency =
      idempotencyKey === null
        ? null
        : {
            key: idempotencyKey,
            // The PIN is a credential, not part of what was asked for, so it is left out:
            // a retry after a mistyped PIN with the same key is the same request.
            requestHash: crypto
              .createHash('sha256')
              .update(
                JSON.stringify([
                  kind,
                  accountNumber,
                  toAccountNumber,
                  `${amountMinor}`,
                  currency,
                  description,
                ]),
              )
              .digest('base64url'),
          };
    const base = {
      actor,
      clientIp,
      amountMinor,
      currency,
      description,
      idempotency,
      accountNumber,
    };
    const command: MoneyCommand =
      kind === 'deposit'
        ? { ...base, kind }
        : kind === 'withdrawal'
          ? { ...base, kind, pin: request.pin ?? null }
          : { ...base, kind, toAccountNumber, pin: request.pin ?? null };
    return this.#deps.batcher.submit(command);
  }

  async #accountFacts(accountNumber: string): Promise<AccountFacts | null> {
    const known = this.#facts.get(accountNumber);
    if (known !== undefined) return known;
    const account = await findAccountByNumber(this.#deps.db, accountNumber);
    if (account === null) return null;
    const facts = { userId: account.userId, kind: account.kind, currency: account.currency };
    if (this.#facts.size >= ACCOUNT_FACTS_LIMIT) {
      const oldest = this.#facts.keys().next();
      if (oldest.done !== true) this.#facts.delete(oldest.value);
    }
    this.#facts.set(accountNumber, facts);
    return facts;
  }
}
