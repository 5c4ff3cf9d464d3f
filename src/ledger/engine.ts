import {
  type AccountRecord,
  lockAccounts,
  setBalance,
  vaultAccountNumber,
} from '../accounts/accounts-repository.ts';
import { appendAudit } from '../audit/audit.ts';
import { verifyPin } from '../auth/pin.ts';
import { isCashStaff, type Principal } from '../auth/roles.ts';
import { lockUserGate, recordPinFailure, resetPinFailures } from '../auth/users-repository.ts';
import type { Db, Engine, Trx } from '../db/database.ts';
import type { PostingsTable } from '../db/schema.ts';
import type { ErrorCode } from '../errors.ts';
import {
  findIdempotencyKey,
  insertEntry,
  insertIdempotencyKey,
  insertPosting,
} from './ledger-repository.ts';
import { type TransactionView, toTransactionView } from './transaction-view.ts';

interface CommandBase {
  actor: Principal;
  /** Client address, for the audit trail. */
  clientIp: string | null;
  amountMinor: bigint;
  currency: string;
  description: string | null;
  /** The caller's `Idempotency-Key` and a hash of what the request asked for. */
  idempotency: { key: string; requestHash: string } | null;
}

export interface DepositCommand extends CommandBase {
  kind: 'deposit';
  accountNumber: string;
}

export interface WithdrawalCommand extends CommandBase {
  kind: 'withdrawal';
  accountNumber: string;
  pin: string | null;
}

export interface TransferCommand extends CommandBase {
  kind: 'transfer';
  accountNumber: string;
  toAccountNumber: string;
  pin: string | null;
}

export type MoneyCommand = DepositCommand | WithdrawalCommand | TransferCommand;

export interface OutcomeError {
  code: ErrorCode;
  message: string;
  field?: string;
}

/**
 * What became of one command. `replayed` is true when the outcome was stored by an
 * earlier request with the same idempotency key and is returned again unchanged.
 */
export type CommandOutcome =
  | { ok: true; transaction: TransactionView; replayed: boolean }
  | { ok: false; error: OutcomeError; replayed: boolean };

type StoredOutcome =
  | { ok: true; transaction: TransactionView }
  | { ok: false; error: OutcomeError };

export interface LedgerEngineDeps {
  db: Db;
  engine: Engine;
  pinPepper: Buffer;
  pinMaxAttempts: number;
}

function failure(code: ErrorCode, message: string, field?: string): StoredOutcome {
  return { ok: false, error: field === undefined ? { code, message } : { code, message, field } };
}

function fresh(outcome: StoredOutcome): CommandOutcome {
  return { ...outcome, replayed: false };
}

interface PlannedPosting {
  account: AccountRecord;
  direction: PostingsTable['direction'];
  counterparty: AccountRecord;
}

/**
 * The one path by which money moves. Every command runs the same steps inside a database
 * transaction: lock the acting user, look up the idempotency key, lock the accounts in
 * sorted order, check ownership and the PIN, check the business rules against the locked
 * balances, and only then write the journal entry, its postings and the new balances
 * together with the stored outcome of the key.
 *
 * `applyAll` takes a list of commands and one open transaction and returns one outcome per
 * command, so a caller can batch many commands into one commit (group commit) without any
 * change here: a failing command writes nothing of its own movement and does not disturb
 * the others.
 */
export class LedgerEngine {
  readonly #deps: LedgerEngineDeps;

  constructor(deps: LedgerEngineDeps) {
    this.#deps = deps;
  }

  /** Runs one command in its own transaction. */
  async execute(command: MoneyCommand): Promise<CommandOutcome> {
    const outcomes = await this.#deps.db
      .transaction()
      .execute((trx) => this.applyAll(trx, [command]));
    const outcome = outcomes[0];
    if (outcome === undefined) throw new Error('ledger engine returned no outcome');
    return outcome;
  }

  async applyAll(trx: Trx, commands: readonly MoneyCommand[]): Promise<CommandOutcome[]> {
    const outcomes: CommandOutcome[] = [];
    for (const command of commands) {
      outcomes.push(await this.#apply(trx, command));
    }
    return outcomes;
  }

  async #apply(trx: Trx, command: MoneyCommand): Promise<CommandOutcome> {
    const { engine } = this.#deps;
    const now = new Date().toISOString();
    const actor = command.actor;

    const gate = await lockUserGate(trx, engine, actor.userId);
    if (gate.locked) {
      return fresh(failure('USER_LOCKED', 'this user is locked; contact the bank to unlock it'));
    }

    if (command.idempotency !== null) {
      const stored = await findIdempotencyKey(trx, actor.userId, command.idempotency.key);
      if (stored !== null) {
        if (stored.requestHash !== command.idempotency.requestHash) {
          return fresh(
            failure(
              'IDEMPOTENCY_KEY_REUSED',
              'this Idempotency-Key was already used with a different request',
            ),
          );
        }
        return { ...(JSON.parse(stored.outcome) as StoredOutcome), replayed: true };
      }
    }

    // Staff move cash on any account without a PIN; transfers are for owners only.
    const actsAsStaff = command.kind !== 'transfer' && isCashStaff(actor);
    const counterNumber =
      command.kind === 'transfer' ? command.toAccountNumber : vaultAccountNumber(command.currency);
    const accounts = await lockAccounts(trx, engine, [command.accountNumber, counterNumber]);

    const source = accounts.get(command.accountNumber);
    if (
      source === undefined ||
      source.kind !== 'customer' ||
      (!actsAsStaff && source.userId !== actor.userId)
    ) {
      // Another customer's account answers exactly like a missing one.
      return fresh(failure('NOT_FOUND', 'account not found'));
    }

    if (command.kind !== 'deposit' && !actsAsStaff) {
      if (gate.pinHash === null) {
        return fresh(failure('PIN_NOT_SET', 'set a transaction PIN first (PUT /api/v1/me/pin)'));
      }
      const pin = command.pin ?? '';
      if (!verifyPin(this.#deps.pinPepper, actor.userId, pin, gate.pinHash)) {
        const attempts = gate.failedPinAttempts + 1;
        const lock = attempts >= this.#deps.pinMaxAttempts;
        await recordPinFailure(trx, actor.userId, attempts, lock, now);
        if (lock) {
          await appendAudit(
            trx,
            engine,
            {
              actorUserId: actor.userId,
              action: 'user.locked',
              target: `user:${actor.userId}`,
              outcome: 'success',
              ip: command.clientIp,
              details: { reason: 'too many wrong transaction PINs', attempts },
            },
            now,
          );
        }
        // Wrong PINs are not stored under the idempotency key: a retry with the right
        // PIN and the same key must still be able to go through.
        return fresh(
          lock
            ? failure(
                'USER_LOCKED',
                'too many wrong PINs; the user is locked until the bank unlocks it',
              )
            : failure('INVALID_PIN', 'the transaction PIN is wrong', 'pin'),
        );
      }
      if (gate.failedPinAttempts > 0) await resetPinFailures(trx, actor.userId, now);
    }

    const outcome = await this.#move(trx, command, source, accounts.get(counterNumber), now);
    if (actsAsStaff) {
      // Staff move money on accounts that are not theirs: every attempt is audited, in the
      // same transaction as the movement it describes.
      await appendAudit(
        trx,
        engine,
        {
          actorUserId: actor.userId,
          action: command.kind === 'deposit' ? 'money.staff_deposit' : 'money.staff_withdrawal',
          target: `account:${command.accountNumber}`,
          outcome: outcome.ok ? 'success' : 'failure',
          ip: command.clientIp,
          details: outcome.ok
            ? {
                amount: outcome.transaction.amount,
                currency: outcome.transaction.currency,
                transactionId: outcome.transaction.id,
              }
            : { code: outcome.error.code },
        },
        now,
      );
    }
    if (command.idempotency !== null) {
      await insertIdempotencyKey(trx, {
        userId: actor.userId,
        key: command.idempotency.key,
        requestHash: command.idempotency.requestHash,
        outcome: JSON.stringify(outcome),
        now,
      });
    }
    return fresh(outcome);
  }

  /** Checks the business rules on locked rows, then writes the balanced entry. */
  async #move(
    trx: Trx,
    command: MoneyCommand,
    source: AccountRecord,
    counter: AccountRecord | undefined,
    now: string,
  ): Promise<StoredOutcome> {
    const amount = command.amountMinor;
    if (source.currency !== command.currency) {
      return failure('CURRENCY_MISMATCH', `the account holds ${source.currency}`, 'currency');
    }
    if (counter === undefined || (command.kind === 'transfer' && counter.kind !== 'customer')) {
      if (command.kind === 'transfer') {
        return failure('NOT_FOUND', 'destination account not found', 'toAccount');
      }
      throw new Error(`vault account for ${command.currency} is missing`);
    }
    if (counter.currency !== source.currency) {
      return failure(
        'CURRENCY_MISMATCH',
        `the destination account holds ${counter.currency}, not ${source.currency}`,
        'toAccount',
      );
    }
    if (source.status === 'frozen' || counter.status === 'frozen') {
      const which = source.status === 'frozen' ? source : counter;
      return failure('ACCOUNT_FROZEN', `account ${which.accountNumber} is frozen`);
    }

    // Direction is from the account holder's side: a credit raises a balance, a debit
    // lowers it. Each entry has one debit and one credit of the same amount, so it sums
    // to zero in its currency.
    const planned: PlannedPosting[] =
      command.kind === 'deposit'
        ? [
            { account: source, direction: 'credit', counterparty: counter },
            { account: counter, direction: 'debit', counterparty: source },
          ]
        : [
            { account: source, direction: 'debit', counterparty: counter },
            { account: counter, direction: 'credit', counterparty: source },
          ];

    const after = planned.map(({ account, direction }) =>
      direction === 'credit' ? account.balanceMinor + amount : account.balanceMinor - amount,
    );
    for (const [index, { account }] of planned.entries()) {
      if (account.kind === 'customer' && (after[index] ?? -1n) < 0n) {
        return failure(
          'INSUFFICIENT_FUNDS',
          'the account balance is lower than the amount',
          'amount',
        );
      }
    }

    const entryId = await insertEntry(trx, {
      kind: command.kind,
      currency: source.currency,
      amountMinor: amount,
      description: command.description,
      actorUserId: command.actor.userId,
      now,
    });
    let sourcePostingId: bigint | null = null;
    for (const [index, posting] of planned.entries()) {
      const balanceAfterMinor = after[index];
      if (balanceAfterMinor === undefined) throw new Error('posting plan is inconsistent');
      const postingId = await insertPosting(trx, {
        entryId,
        accountId: posting.account.id,
        direction: posting.direction,
        amountMinor: amount,
        currency: source.currency,
        balanceAfterMinor,
        counterpartyAccountId: posting.counterparty.id,
        now,
      });
      await setBalance(trx, posting.account.id, balanceAfterMinor);
      if (posting.account === source) sourcePostingId = postingId;
    }
    if (sourcePostingId === null) throw new Error('entry has no posting on its source account');

    return {
      ok: true,
      transaction: toTransactionView({
        postingId: sourcePostingId,
        accountNumber: source.accountNumber,
        entryKind: command.kind,
        direction: planned[0]?.direction ?? 'debit',
        amountMinor: amount,
        currency: source.currency,
        balanceAfterMinor: after[0] ?? source.balanceMinor,
        counterpartyAccount: counter.kind === 'customer' ? counter.accountNumber : null,
        description: command.description,
        createdAt: now,
      }),
    };
  }
}
