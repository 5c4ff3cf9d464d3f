import {
  type AccountRecord,
  lockAccounts,
  vaultAccountNumber,
} from '../accounts/accounts-repository.ts';
import { type AuditEvent, appendAudit } from '../audit/audit.ts';
import { verifyPin } from '../auth/pin.ts';
import { isCashStaff, type Principal } from '../auth/roles.ts';
import type { Engine, Trx } from '../db/database.ts';
import type { PostingsTable } from '../db/schema.ts';
import type { ErrorCode } from '../errors.ts';
import { transactionPosted, userLocked } from '../events/event-data.ts';
import { appendEvents, type NewEvent } from '../events/outbox.ts';
import {
  allocateIds,
  type EntryRow,
  findIdempotencyKeys,
  idempotencyMapKey,
  insertEntries,
  insertIdempotencyKeys,
  insertPostings,
  lockUserGates,
  type PinState,
  type PostingRow,
  type StoredKey,
  savePinStates,
  setBalances,
  type UserGate,
} from './batch-repository.ts';
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
  engine: Engine;
  pinPepper: Buffer;
  pinMaxAttempts: number;
}

function failure(code: ErrorCode, message: string, field?: string): StoredOutcome {
  return { ok: false, error: field === undefined ? { code, message } : { code, message, field } };
}

function counterNumberOf(command: MoneyCommand): string {
  return command.kind === 'transfer'
    ? command.toAccountNumber
    : vaultAccountNumber(command.currency);
}

interface PlannedPosting {
  account: AccountRecord;
  direction: PostingsTable['direction'];
  counterparty: AccountRecord;
  balanceAfterMinor: bigint;
}

/** A movement that passed every rule and will be written when the batch persists. */
interface PlannedEntry {
  command: MoneyCommand;
  postings: PlannedPosting[];
  /** Filled in with ids once they are allocated; returned and stored as the outcome. */
  outcome: { ok: true; transaction: TransactionView };
}

/** Everything a batch reads under its locks, then changes in memory, then writes. */
interface BatchState {
  now: string;
  gates: Map<string, UserGate>;
  keys: Map<string, StoredKey | { pending: StoredOutcome; requestHash: string }>;
  accounts: Map<string, AccountRecord>;
  entries: PlannedEntry[];
  keysToStore: Array<{ userId: string; key: string; requestHash: string; outcome: StoredOutcome }>;
  pinStates: Map<string, PinState>;
  audit: AuditEvent[];
  /** Outbox events of the batch other than `transaction.posted` (built when ids are known). */
  events: NewEvent[];
}

/**
 * The one path by which money moves (see docs/decisions/0003-ledger-model.md).
 *
 * `applyAll` applies a list of commands inside one open transaction and returns one outcome
 * per command, in three phases:
 * 1. read and lock everything the batch touches with one statement per table: the acting
 *    users (ascending id), their idempotency keys, and the accounts (ascending id, vaults
 *    included). Every batch takes its locks in the same global order — users, then
 *    accounts, each sorted — so concurrent batches cannot deadlock;
 * 2. apply the commands one after another to that state in memory: key replay, ownership,
 *    PIN, then the business rules against the running balances. A command that fails
 *    changes nothing of its own movement and does not disturb the others;
 * 3. write the batch: entries, postings, balances, keys, PIN counters and audit events,
 *    with multi-row statements.
 * A batch of one is the plain single-request case; the batcher groups concurrent
 * requests into larger ones so that many commands share one durable commit.
 */
export class LedgerEngine {
  readonly #deps: LedgerEngineDeps;

  constructor(deps: LedgerEngineDeps) {
    this.#deps = deps;
  }

  async applyAll(trx: Trx, commands: readonly MoneyCommand[]): Promise<CommandOutcome[]> {
    if (commands.length === 0) return [];
    const { engine } = this.#deps;
    const now = new Date().toISOString();

    const userIds = [...new Set(commands.map((c) => c.actor.userId))].sort();
    const gates = await lockUserGates(trx, engine, userIds);
    const keyPairs = commands.flatMap((c) =>
      c.idempotency === null ? [] : [{ userId: c.actor.userId, key: c.idempotency.key }],
    );
    const keys: BatchState['keys'] = await findIdempotencyKeys(trx, keyPairs);
    const numbers = commands.flatMap((c) => [c.accountNumber, counterNumberOf(c)]);
    const accounts = await lockAccounts(trx, engine, numbers);

    const state: BatchState = {
      now,
      gates,
      keys,
      accounts,
      entries: [],
      keysToStore: [],
      pinStates: new Map(),
      audit: [],
      events: [],
    };
    const outcomes = commands.map((command) => this.#apply(state, command));
    await this.#persist(trx, state);
    return outcomes.map((outcome) =>
      // Successful outcomes were filled in with their ids by #persist.
      'replayed' in outcome ? outcome : { ...outcome, replayed: false },
    );
  }

  #apply(state: BatchState, command: MoneyCommand): CommandOutcome | StoredOutcome {
    const actor = command.actor;
    const gate = state.gates.get(actor.userId);
    if (gate === undefined) throw new Error(`acting user ${actor.userId} does not exist`);
    if (gate.locked) {
      return failure('USER_LOCKED', 'this user is locked; contact the bank to unlock it');
    }

    const keyId =
      command.idempotency === null
        ? null
        : idempotencyMapKey(actor.userId, command.idempotency.key);
    if (keyId !== null && command.idempotency !== null) {
      const stored = state.keys.get(keyId);
      if (stored !== undefined) {
        if (stored.requestHash !== command.idempotency.requestHash) {
          return failure(
            'IDEMPOTENCY_KEY_REUSED',
            'this Idempotency-Key was already used with a different request',
          );
        }
        // A key first used earlier in this same batch replays the very same outcome object
        // (its ids are filled in when the batch is written).
        const original =
          'pending' in stored ? stored.pending : (JSON.parse(stored.outcome) as StoredOutcome);
        return { ...original, replayed: true } as CommandOutcome;
      }
    }

    // Staff move cash on any account without a PIN; transfers are for owners only.
    const actsAsStaff = command.kind !== 'transfer' && isCashStaff(actor);
    const source = state.accounts.get(command.accountNumber);
    if (
      source === undefined ||
      source.kind !== 'customer' ||
      (!actsAsStaff && source.userId !== actor.userId)
    ) {
      // Another customer's account answers exactly like a missing one.
      return failure('NOT_FOUND', 'account not found');
    }

    if (command.kind !== 'deposit' && !actsAsStaff) {
      const refusal = this.#checkPin(state, gate, command);
      if (refusal !== null) return refusal;
    }

    const outcome = this.#move(
      state,
      command,
      source,
      state.accounts.get(counterNumberOf(command)),
    );
    if (actsAsStaff) {
      // Staff move money on accounts that are not theirs: every attempt is audited, in the
      // same transaction as the movement it describes.
      state.audit.push({
        actorUserId: actor.userId,
        action: command.kind === 'deposit' ? 'money.staff_deposit' : 'money.staff_withdrawal',
        target: `account:${command.accountNumber}`,
        outcome: outcome.ok ? 'success' : 'failure',
        ip: command.clientIp,
        details: outcome.ok
          ? { amount: outcome.transaction.amount, currency: outcome.transaction.currency }
          : { code: outcome.error.code },
      });
    }
    if (keyId !== null && command.idempotency !== null) {
      state.keys.set(keyId, { pending: outcome, requestHash: command.idempotency.requestHash });
      state.keysToStore.push({
        userId: actor.userId,
        key: command.idempotency.key,
        requestHash: command.idempotency.requestHash,
        outcome,
      });
    }
    return outcome;
  }

  /**
   * Checks the transaction PIN, counting wrong ones. Returns the refusal, or null when the
   * PIN is right. Refusals are not stored under the idempotency key: a retry with the right
   * PIN and the same key must still be able to go through.
   */
  #checkPin(state: BatchState, gate: UserGate, command: MoneyCommand): StoredOutcome | null {
    if (gate.pinHash === null) {
      return failure('PIN_NOT_SET', 'set a transaction PIN first (PUT /api/v1/me/pin)');
    }
    const pin = command.kind === 'deposit' ? '' : (command.pin ?? '');
    if (verifyPin(this.#deps.pinPepper, gate.id, pin, gate.pinHash)) {
      if (gate.failedPinAttempts > 0) {
        gate.failedPinAttempts = 0;
        state.pinStates.set(gate.id, { userId: gate.id, failedPinAttempts: 0, lockedAt: null });
      }
      return null;
    }
    gate.failedPinAttempts += 1;
    const lock = gate.failedPinAttempts >= this.#deps.pinMaxAttempts;
    state.pinStates.set(gate.id, {
      userId: gate.id,
      failedPinAttempts: gate.failedPinAttempts,
      lockedAt: lock ? state.now : null,
    });
    if (!lock) return failure('INVALID_PIN', 'the transaction PIN is wrong', 'pin');
    gate.locked = true;
    state.audit.push({
      actorUserId: gate.id,
      action: 'user.locked',
      target: `user:${gate.id}`,
      outcome: 'success',
      ip: command.clientIp,
      details: { reason: 'too many wrong transaction PINs', attempts: gate.failedPinAttempts },
    });
    state.events.push(userLocked(gate.id, 'too many wrong transaction PINs', state.now));
    return failure(
      'USER_LOCKED',
      'too many wrong PINs; the user is locked until the bank unlocks it',
    );
  }

  /** Checks the business rules against the running balances and plans the balanced entry. */
  #move(
    state: BatchState,
    command: MoneyCommand,
    source: AccountRecord,
    counter: AccountRecord | undefined,
  ): StoredOutcome {
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
    type Leg = [AccountRecord, PostingsTable['direction'], AccountRecord];
    const [first, second]: [Leg, Leg] =
      command.kind === 'deposit'
        ? [
            [source, 'credit', counter],
            [counter, 'debit', source],
          ]
        : [
            [source, 'debit', counter],
            [counter, 'credit', source],
          ];
    const postings = [first, second].map(([account, direction, counterparty]) => ({
      account,
      direction,
      counterparty,
      balanceAfterMinor:
        direction === 'credit' ? account.balanceMinor + amount : account.balanceMinor - amount,
    }));
    if (postings.some((p) => p.account.kind === 'customer' && p.balanceAfterMinor < 0n)) {
      return failure(
        'INSUFFICIENT_FUNDS',
        'the account balance is lower than the amount',
        'amount',
      );
    }
    // The running balances are the state the next command in the batch sees.
    for (const posting of postings) posting.account.balanceMinor = posting.balanceAfterMinor;

    const sourcePosting = postings[0];
    if (sourcePosting === undefined) throw new Error('entry has no posting on its source account');
    const outcome = {
      ok: true as const,
      transaction: toTransactionView({
        postingId: 0n,
        accountNumber: source.accountNumber,
        entryKind: command.kind,
        direction: sourcePosting.direction,
        amountMinor: amount,
        currency: source.currency,
        balanceAfterMinor: sourcePosting.balanceAfterMinor,
        counterpartyAccount: counter.kind === 'customer' ? counter.accountNumber : null,
        description: command.description,
        createdAt: state.now,
      }),
    };
    state.entries.push({ command, postings, outcome });
    return outcome;
  }

  async #persist(trx: Trx, state: BatchState): Promise<void> {
    const { engine } = this.#deps;
    const posted: NewEvent[] = [];
    if (state.entries.length > 0) {
      const { entryIds, postingIds } = await allocateIds(
        trx,
        engine,
        state.entries.length,
        state.entries.length * 2,
      );
      const entryRows: EntryRow[] = [];
      const postingRows: PostingRow[] = [];
      const balances = new Map<bigint, bigint>();
      state.entries.forEach((planned, index) => {
        const entryId = entryIds[index];
        if (entryId === undefined) throw new Error('fewer entry ids than entries');
        const { command } = planned;
        // Checked again just before writing: the entry must balance to zero.
        let net = 0n;
        for (const p of planned.postings)
          net += p.direction === 'credit' ? command.amountMinor : -command.amountMinor;
        if (net !== 0n) throw new Error(`entry for ${command.kind} does not balance`);
        entryRows.push({
          id: entryId,
          kind: command.kind,
          currency: command.currency,
          amountMinor: command.amountMinor,
          description: command.description,
          actorUserId: command.actor.userId,
          createdAt: state.now,
        });
        planned.postings.forEach((posting, k) => {
          const postingId = postingIds[index * 2 + k];
          if (postingId === undefined) throw new Error('fewer posting ids than postings');
          postingRows.push({
            id: postingId,
            entryId,
            accountId: posting.account.id,
            direction: posting.direction,
            amountMinor: command.amountMinor,
            currency: command.currency,
            balanceAfterMinor: posting.balanceAfterMinor,
            counterpartyAccountId: posting.counterparty.id,
            createdAt: state.now,
          });
          balances.set(posting.account.id, posting.balanceAfterMinor);
          if (k === 0) planned.outcome.transaction.id = postingId.toString();
        });
        posted.push(
          transactionPosted({
            entryId,
            kind: command.kind,
            amountMinor: command.amountMinor,
            currency: command.currency,
            description: command.description,
            actorUserId: command.actor.userId,
            createdAt: state.now,
            legs: planned.postings.map((posting, k) => ({
              postingId: postingIds[index * 2 + k] ?? 0n,
              accountNumber: posting.account.accountNumber,
              direction: posting.direction,
              balanceAfterMinor: posting.balanceAfterMinor,
            })),
          }),
        );
      });
      await insertEntries(trx, engine, entryRows);
      await insertPostings(trx, engine, postingRows);
      await setBalances(
        trx,
        engine,
        [...balances].map(([accountId, balanceMinor]) => ({ accountId, balanceMinor })),
      );
    }
    if (state.keysToStore.length > 0) {
      await insertIdempotencyKeys(
        trx,
        state.keysToStore.map((k) => ({
          userId: k.userId,
          key: k.key,
          requestHash: k.requestHash,
          outcome: JSON.stringify(k.outcome),
          now: state.now,
        })),
      );
    }
    if (state.pinStates.size > 0)
      await savePinStates(trx, [...state.pinStates.values()], state.now);
    for (const event of state.audit) await appendAudit(trx, engine, event, state.now);
    // The batch's events, one multi-row insert, in the batch's transaction: taken last, so
    // the event counter's lock (which orders all writers of events) is held only briefly.
    await appendEvents(trx, [...posted, ...state.events]);
  }
}
