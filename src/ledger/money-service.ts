import crypto from 'node:crypto';
import { accountNumberProblem } from '../accounts/account-number.ts';
import { findAccountByNumber } from '../accounts/accounts-repository.ts';
import type { Principal } from '../auth/roles.ts';
import type { ApprovalView } from '../controls/controls-service.ts';
import type { Db } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { minorFromMajorUnits, parseAmount } from '../money/money.ts';
import type { CommandBatcher } from './batcher.ts';
import type {
  BulkOutcome,
  BulkTransferGroup,
  CommandKindName,
  CommandOutcome,
  DepositCommand,
  MoneyCommand,
  Refusal,
} from './commands/command.ts';
import { refuse } from './commands/command.ts';
import { kindNamed } from './commands/index.ts';
import { type AccountFacts, accessTo, currencyMatches, mayMoveMoney } from './rules.ts';

/** The kinds this service submits (holds and payments have their own services). */
export type CashKindName = Extract<CommandKindName, 'deposit' | 'withdrawal' | 'transfer'>;

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
  /**
   * Dual control (issue #13): a staff deposit above its currency's threshold is not posted
   * but held as a pending approval (src/controls/), answered 202 by the route.
   */
  largeDeposits?: {
    thresholds: ReadonlyMap<string, bigint>;
    /** Files the approval (or replays the first answer to the same Idempotency-Key). */
    request(command: DepositCommand): Promise<PendingApproval | CommandOutcome>;
  };
}

/** `POST /api/v1/transfers/bulk` as the route validated it. */
export interface BulkTransferRequest {
  pin: string;
  atomic?: boolean | undefined;
  transfers: Array<{
    fromAccount: string;
    toAccount: string;
    amount: unknown;
    description?: string | undefined;
  }>;
}

/** Most transfers in one bulk request: it is applied in one transaction. */
export const MAX_BULK_TRANSFERS = 1000;

/** A command held for a second person's approval instead of being applied. */
export interface PendingApproval {
  pendingApproval: ApprovalView;
  /** A retry with the same Idempotency-Key: the first answer again, nothing filed. */
  replayed: boolean;
}

const ACCOUNT_FACTS_LIMIT = 100_000;

function refused(error: Refusal): CommandOutcome {
  return { ok: false, error, replayed: false };
}

/**
 * The command step of the write path: turns a request the route has validated and
 * authenticated into a ledger command and hands it to the batcher.
 *
 * Before anything else it applies the engine's own access rules to the account's immutable
 * facts (cached), so a request for another customer's account is refused exactly like one
 * for a missing account, before its body is looked at: no answer reveals a fact (currency,
 * decimals) about an account the caller may not see. Then the body: the amount in the
 * account's currency, the destination's check digits, the PIN's presence. The engine checks
 * the same rules again under its locks, with the balances and statuses that can change.
 */
export class MoneyService {
  readonly #deps: MoneyServiceDeps;
  /**
   * Immutable account facts, remembered (bounded) so the checks before batching cost no
   * query. Only facts no operation can change are kept here.
   */
  readonly #facts = new Map<string, AccountFacts>();

  constructor(deps: MoneyServiceDeps) {
    this.#deps = deps;
  }

  async submit(
    kindName: CashKindName,
    actor: Principal,
    accountNumber: string,
    request: MoneyRequest,
    idempotencyKey: string | null,
    clientIp: string | null = null,
  ): Promise<CommandOutcome> {
    const prepared = await this.#prepare(
      kindName,
      actor,
      accountNumber,
      request,
      idempotencyKey,
      clientIp,
    );
    return 'ok' in prepared ? prepared : this.#deps.batcher.submit(prepared.command);
  }

  /**
   * As `submit`, for the routes: a staff deposit above its currency's DUAL_CONTROL_THRESHOLD
   * is not posted but held as a pending approval (issue #13).
   */
  async submitOrHold(
    kindName: CashKindName,
    actor: Principal,
    accountNumber: string,
    request: MoneyRequest,
    idempotencyKey: string | null,
    clientIp: string | null = null,
  ): Promise<CommandOutcome | PendingApproval> {
    const prepared = await this.#prepare(
      kindName,
      actor,
      accountNumber,
      request,
      idempotencyKey,
      clientIp,
    );
    if ('ok' in prepared) return prepared;
    const { command, access } = prepared;
    const held = this.#deps.largeDeposits;
    const threshold = held?.thresholds.get(command.currency);
    if (
      held !== undefined &&
      command.kind === 'deposit' &&
      access === 'staff' &&
      threshold !== undefined &&
      command.amountMinor > threshold
    ) {
      return held.request(command);
    }
    return this.#deps.batcher.submit(command);
  }

  /**
   * A bulk transfer request: the command step for each item (the same order of checks as a
   * single transfer: access to the debited account first, so a foreign or missing account
   * is refused as NOT_FOUND before its amount is looked at; then the amount in that
   * account's currency, the destination's check digits), then the whole request to the
   * batcher, which applies it alone in one transaction (`LedgerEngine.applyBulk`: one PIN
   * check, each item as an ordinary transfer). Malformed items make the whole request a 400
   * naming the item (`transfers.<index>.<field>`), before anything is applied.
   */
  async submitBulk(
    actor: Principal,
    request: BulkTransferRequest,
    idempotencyKey: string | null,
    clientIp: string | null = null,
  ): Promise<BulkOutcome> {
    const forbidden = mayMoveMoney(actor);
    if (forbidden !== null) return { ok: false, error: forbidden, replayed: false };
    const { transfers } = request;
    if (transfers.length === 0 || transfers.length > MAX_BULK_TRANSFERS) {
      throw new CorebankError(
        'VALIDATION_FAILED',
        `transfers must hold 1 to ${MAX_BULK_TRANSFERS} items`,
        'transfers',
      );
    }
    const atomic = request.atomic ?? false;
    const transferKind = kindNamed('transfer');
    const items: BulkTransferGroup['items'] = [];
    // What was asked for, item by item, for the request's idempotency hash.
    const asked: string[][] = [];
    for (const [index, item] of transfers.entries()) {
      const field = (name: string) => `transfers.${index}.${name}`;
      const account = await this.#accountFacts(item.fromAccount);
      const access = accessTo(actor, account, transferKind.staffAction !== null);
      const description = item.description ?? null;
      if (typeof access !== 'string' || account === null) {
        items.push({
          refusal: typeof access === 'string' ? refuse('NOT_FOUND', 'account not found') : access,
        });
        asked.push([item.fromAccount, item.toAccount, String(item.amount), description ?? '']);
        continue;
      }
      const amountMinor = parseAmount(item.amount, account.currency, {
        maxMinor: minorFromMajorUnits(this.#deps.maxAmountMajor, account.currency),
        field: field('amount'),
      });
      const problem = accountNumberProblem(item.toAccount);
      if (problem !== null)
        throw new CorebankError('VALIDATION_FAILED', problem, field('toAccount'));
      if (item.toAccount === item.fromAccount) {
        throw new CorebankError(
          'SAME_ACCOUNT',
          'cannot transfer to the same account',
          field('toAccount'),
        );
      }
      asked.push([item.fromAccount, item.toAccount, `${amountMinor}`, description ?? '']);
      items.push({
        command: {
          kind: 'transfer',
          actor,
          clientIp,
          amountMinor,
          currency: account.currency,
          description,
          idempotency: null,
          accountNumber: item.fromAccount,
          toAccountNumber: item.toAccount,
          pin: null,
          preAuthorisedBy: { bulkRequest: true },
        },
      });
    }
    return this.#deps.batcher.submitBulk({
      actor,
      clientIp,
      pin: request.pin,
      atomic,
      idempotency:
        idempotencyKey === null
          ? null
          : {
              key: idempotencyKey,
              // As for single commands, the PIN is a credential, not part of the request.
              requestHash: crypto
                .createHash('sha256')
                .update(JSON.stringify(['bulk_transfer', atomic, asked]))
                .digest('base64url'),
            },
      items,
    });
  }

  async #prepare(
    kindName: CashKindName,
    actor: Principal,
    accountNumber: string,
    request: MoneyRequest,
    idempotencyKey: string | null,
    clientIp: string | null,
  ): Promise<CommandOutcome | { command: MoneyCommand; access: 'owner' | 'staff' }> {
    const forbidden = mayMoveMoney(actor);
    if (forbidden !== null) return refused(forbidden);
    const kind = kindNamed(kindName);
    const account = await this.#accountFacts(accountNumber);
    const access = accessTo(actor, account, kind.staffAction !== null);
    if (typeof access !== 'string') return refused(access);
    if (account === null) throw new Error('access granted to a missing account');
    const currency = request.currency ?? account.currency;
    const mismatch = currencyMatches(account, currency);
    if (mismatch !== null) return refused(mismatch);

    // Malformed input is the route's validation, answered as such (400 with its field).
    const amountMinor = parseAmount(request.amount, currency, {
      maxMinor: minorFromMajorUnits(this.#deps.maxAmountMajor, currency),
      field: 'amount',
    });
    let toAccountNumber = '';
    if (kindName === 'transfer') {
      toAccountNumber = request.toAccount ?? '';
      const problem = accountNumberProblem(toAccountNumber);
      if (problem !== null) throw new CorebankError('VALIDATION_FAILED', problem, 'toAccount');
      if (toAccountNumber === accountNumber) {
        throw new CorebankError('SAME_ACCOUNT', 'cannot transfer to the same account', 'toAccount');
      }
    }
    if (access === 'owner' && kind.needsPin && request.pin === undefined) {
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
                  kindName,
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
    const pin = request.pin ?? null;
    const command: MoneyCommand =
      kindName === 'deposit'
        ? { ...base, kind: kindName }
        : kindName === 'withdrawal'
          ? { ...base, kind: kindName, pin }
          : { ...base, kind: kindName, toAccountNumber, pin };
    return { command, access };
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
