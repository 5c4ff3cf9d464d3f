import { lockAccounts } from '../accounts/accounts-repository.ts';
import { businessDayOf, type DailyLimitsConfig, readDailyOutgoing } from '../controls/limits.ts';
import type { Engine, Trx } from '../db/database.ts';
import { namedHoldIds, readHoldsForBatch } from '../holds/holds-repository.ts';
import { type BatchReads, readBatchPostgres } from './batch-read-postgres.ts';
import { findIdempotencyKeys, idempotencyMapKey, lockUserGates } from './batch-repository.ts';
import {
  type AnyOutcome,
  type BatchState,
  type BulkItemResult,
  type BulkOutcome,
  type BulkTransferGroup,
  isRefusal,
  type KindContext,
  type LockedAccount,
  type MoneyCommand,
  type PlannedEntry,
  type PlannedPosting,
  type Refusal,
  refuse,
  type StoredBulkOutcome,
  type StoredOutcome,
} from './commands/command.ts';
import { kindOf, outgoingKindNames } from './commands/index.ts';
import { persistBatch } from './persist.ts';
import { accessTo, pinIsRight, userNotLocked, withinDailyLimit } from './rules.ts';
import { toTransactionView } from './transaction-view.ts';

export type {
  AnyOutcome,
  BulkOutcome,
  BulkTransferGroup,
  CommandOutcome,
  DepositCommand,
  HoldOutcome,
  MoneyCommand,
  OutcomeError,
  ReversalCommand,
  TransferCommand,
  WithdrawalCommand,
} from './commands/command.ts';

export interface LedgerEngineDeps {
  engine: Engine;
  pinPepper: Buffer;
  pinMaxAttempts: number;
  /** Daily outgoing limits (src/controls/limits.ts); absent: no limits. */
  limits?: DailyLimitsConfig;
}

function failure(refusal: Refusal): StoredOutcome {
  return { ok: false, error: refusal };
}

/**
 * Reads and locks everything a batch touches, in one global order: the acting users
 * (ascending id), then their limits and idempotency keys, then every account the commands'
 * kinds declare (ascending id, vaults included), then those accounts' pending holds and the
 * holds the commands name. Concurrent batches take their locks in the same order, so they
 * cannot deadlock. SQLite runs one statement per table (no round trips to save, and its
 * write lock is the whole database); PostgreSQL runs them all in one round trip, through the
 * function of migration 0025 (./batch-read-postgres.ts).
 */
async function readBatch(
  trx: Trx,
  engine: Engine,
  commands: readonly MoneyCommand[],
  limits: DailyLimitsConfig | undefined,
  bulk?: { userId: string; key: string | null },
): Promise<BatchState> {
  const clock = new Date();
  const now = clock.toISOString();
  const userIds = [
    ...new Set([...commands.map((c) => c.actor.userId), ...(bulk ? [bulk.userId] : [])]),
  ].sort();
  const keyPairs = [
    ...commands.flatMap((c) =>
      c.idempotency === null ? [] : [{ userId: c.actor.userId, key: c.idempotency.key }],
    ),
    ...(bulk?.key == null ? [] : [{ userId: bulk.userId, key: bulk.key }]),
  ];
  const accountNumbers = commands.flatMap((c) => kindOf(c).locks(c));
  const reads =
    engine === 'postgres'
      ? await readBatchPostgres(trx, {
          userIds,
          keyPairs,
          accountNumbers,
          holdIds: namedHoldIds(commands),
          now,
        })
      : await readBatchStatements(trx, engine, {
          userIds,
          keyPairs,
          accountNumbers,
          commands,
          now,
        });
  const { gates } = reads;
  if (limits !== undefined) {
    // Today's outgoing totals, read under the user locks taken above (issue #13).
    const outgoing = await readDailyOutgoing(
      trx,
      userIds,
      outgoingKindNames(),
      businessDayOf(clock.getTime(), limits.timeZone),
      limits,
      { onlyLimited: true, ownLimits: reads.ownLimits },
    );
    for (const [userId, gate] of gates) gate.dailyOutgoing = outgoing.get(userId);
  }
  return {
    now,
    gates,
    keys: reads.keys,
    accounts: reads.accounts,
    entries: [],
    keysToStore: [],
    pinStates: new Map(),
    audit: [],
    extraWrites: [],
    events: [],
    holds: reads.holds,
  };
}

/** The batch's reads as separate statements, in the order of `readBatch` (SQLite). */
async function readBatchStatements(
  trx: Trx,
  engine: Engine,
  input: {
    userIds: string[];
    keyPairs: Array<{ userId: string; key: string }>;
    accountNumbers: string[];
    commands: readonly MoneyCommand[];
    now: string;
  },
): Promise<BatchReads> {
  const gates = await lockUserGates(trx, engine, input.userIds);
  const keys = await findIdempotencyKeys(trx, input.keyPairs);
  const records = await lockAccounts(trx, engine, input.accountNumbers);
  const accounts = new Map<string, LockedAccount>();
  for (const [number, record] of records)
    accounts.set(number, { ...record, pendingHoldsMinor: 0n });
  // Pending holds of the locked accounts, read under their locks; an expired one no longer
  // counts even before the sweeper records it (src/holds/holds-repository.ts).
  const holds = await readHoldsForBatch(trx, accounts, input.commands, input.now);
  // No `ownLimits`: `readDailyOutgoing` reads them itself.
  return { gates, keys, accounts, holds };
}

/**
 * The one path by which money moves (see docs/decisions/0010-money-write-path.md).
 *
 * `applyAll` applies a list of commands inside one open transaction and returns one outcome
 * per command, in the commands' order:
 * 1. `readBatch` locks everything in the global order;
 * 2. each command in turn, against that state in memory: the user is not locked, its
 *    idempotency key (replay), access to its account, PIN, then its kind's rules and
 *    postings, applied to the running balances. A refused command changes nothing of its
 *    own movement and does not disturb the others;
 * 3. `persistBatch` writes the whole batch and checks every invariant; any mismatch throws
 *    and the transaction, with everything in it, is rolled back.
 * A batch of one is the plain single-request case; the batcher groups concurrent
 * requests into larger ones so that many commands share one durable commit.
 */
export class LedgerEngine {
  readonly #deps: LedgerEngineDeps;

  constructor(deps: LedgerEngineDeps) {
    this.#deps = deps;
  }

  async applyAll(trx: Trx, commands: readonly MoneyCommand[]): Promise<AnyOutcome[]> {
    if (commands.length === 0) return [];
    for (const command of commands) {
      // A bulk item's PIN is checked once for its request, in `applyBulk`; alone, it would
      // skip the PIN check altogether.
      if (
        'preAuthorisedBy' in command &&
        command.preAuthorisedBy &&
        'bulkRequest' in command.preAuthorisedBy
      ) {
        throw new Error('a bulk transfer item must be applied with its request (applyBulk)');
      }
    }
    const batch = await readBatch(trx, this.#deps.engine, commands, this.#deps.limits);
    const outcomes = commands.map((command) => this.#apply(batch, command));
    await persistBatch(trx, this.#deps.engine, batch);
    // Successful outcomes were filled in with their ids by the persist step.
    return outcomes.map((outcome) =>
      'replayed' in outcome ? outcome : { ...outcome, replayed: false },
    );
  }

  /**
   * Applies a bulk transfer request in the open transaction `trx`, which holds nothing else
   * (the batcher runs it alone). The request as a whole: the user is not locked, its
   * idempotency key (a replay answers the stored results, a different body 409), one PIN
   * check. Then each item as an ordinary transfer through `#apply` (access, daily limits,
   * the transfer's rules, running balances), so it obeys exactly what a single transfer
   * obeys. Atomic and any item refused: the planned entries are dropped before the persist
   * step, which then writes only the PIN counter and the idempotency key; nothing of the
   * request is posted. The results are stored under the key in the same transaction.
   */
  async applyBulk(trx: Trx, group: BulkTransferGroup): Promise<BulkOutcome> {
    const commands = group.items.flatMap((item) => ('command' in item ? [item.command] : []));
    const { actor } = group;
    const batch = await readBatch(trx, this.#deps.engine, commands, this.#deps.limits, {
      userId: actor.userId,
      key: group.idempotency?.key ?? null,
    });
    const gate = batch.gates.get(actor.userId);
    if (gate === undefined) throw new Error(`acting user ${actor.userId} does not exist`);
    const locked = userNotLocked(gate);
    if (locked !== null) return { ok: false, error: locked, replayed: false };
    if (group.idempotency !== null) {
      const stored = batch.keys.get(idempotencyMapKey(actor.userId, group.idempotency.key));
      if (stored !== undefined) {
        if (stored.requestHash !== group.idempotency.requestHash || !('outcome' in stored)) {
          return {
            ok: false,
            error: refuse(
              'IDEMPOTENCY_KEY_REUSED',
              'this Idempotency-Key was already used with a different request',
            ),
            replayed: false,
          };
        }
        return { ...(JSON.parse(stored.outcome) as StoredBulkOutcome), replayed: true };
      }
    }
    const wrong = pinIsRight(gate, group.pin, {
      pepper: this.#deps.pinPepper,
      maxAttempts: this.#deps.pinMaxAttempts,
      now: batch.now,
      clientIp: group.clientIp,
      pinStates: batch.pinStates,
      audit: batch.audit,
      events: batch.events,
    });
    if (wrong !== null) {
      // The wrong PIN is counted (and may lock the user); nothing else is written.
      await persistBatch(trx, this.#deps.engine, batch);
      return { ok: false, error: wrong, replayed: false };
    }
    const outcomes = group.items.map((item) =>
      'refusal' in item ? failure(item.refusal) : this.#apply(batch, item.command),
    );
    const posted = !group.atomic || outcomes.every((outcome) => outcome.ok);
    // Nothing has been written yet: dropping the plans is the whole rollback.
    if (!posted) batch.entries.length = 0;
    const stored: StoredBulkOutcome = {
      ok: true,
      atomic: group.atomic,
      posted,
      results: outcomes.map((outcome, index): BulkItemResult => {
        if (!outcome.ok) {
          const { code, message, field } = outcome.error;
          return { index, status: 'refused', code, message, ...(field ? { field } : {}) };
        }
        if (!posted || outcome.transaction === null) return { index, status: 'skipped' };
        // The same object the persist step fills in with the posting's id.
        return { index, status: 'posted', transaction: outcome.transaction };
      }),
    };
    if (group.idempotency !== null) {
      batch.keysToStore.push({
        userId: actor.userId,
        key: group.idempotency.key,
        requestHash: group.idempotency.requestHash,
        outcome: stored,
      });
    }
    await persistBatch(trx, this.#deps.engine, batch);
    return { ...stored, replayed: false };
  }

  #apply(batch: BatchState, command: MoneyCommand): AnyOutcome | StoredOutcome {
    const actor = command.actor;
    const gate = batch.gates.get(actor.userId);
    if (gate === undefined) throw new Error(`acting user ${actor.userId} does not exist`);
    const locked = userNotLocked(gate);
    if (locked !== null) return failure(locked);

    const keyId =
      command.idempotency === null
        ? null
        : idempotencyMapKey(actor.userId, command.idempotency.key);
    if (keyId !== null && command.idempotency !== null) {
      const stored = batch.keys.get(keyId);
      if (stored !== undefined) {
        if (stored.requestHash !== command.idempotency.requestHash) {
          return failure(
            refuse(
              'IDEMPOTENCY_KEY_REUSED',
              'this Idempotency-Key was already used with a different request',
            ),
          );
        }
        // A key first used earlier in this same batch replays the very same outcome object
        // (its ids are filled in when the batch is written).
        const original =
          'pending' in stored ? stored.pending : (JSON.parse(stored.outcome) as StoredOutcome);
        return { ...original, replayed: true } as AnyOutcome;
      }
    }

    const kind = kindOf(command);
    const account = batch.accounts.get(command.accountNumber);
    const access = accessTo(actor, account, kind.staffAction !== null);
    if (typeof access !== 'string') return failure(access);
    if (account === undefined) throw new Error('access granted to a missing account');

    const preAuthorised = 'preAuthorisedBy' in command && command.preAuthorisedBy !== undefined;
    if (access === 'owner' && kind.needsPin && !preAuthorised) {
      const wrong = pinIsRight(gate, 'pin' in command ? command.pin : null, {
        pepper: this.#deps.pinPepper,
        maxAttempts: this.#deps.pinMaxAttempts,
        now: batch.now,
        clientIp: command.clientIp,
        pinStates: batch.pinStates,
        audit: batch.audit,
        events: batch.events,
      });
      if (wrong !== null) return failure(wrong);
    }

    // Daily outgoing limits bind what customers send from their own accounts.
    const limited = access === 'owner' && kind.outgoing;
    if (limited) {
      const over = withinDailyLimit(gate, command.currency, command.amountMinor);
      if (over !== null) return failure(over);
    }
    const outcome = this.#move({ batch, account, access }, command);
    const today = gate.dailyOutgoing?.get(command.currency);
    if (limited && outcome.ok && today !== undefined) today.usedMinor += command.amountMinor;
    if (access === 'staff' && kind.staffAction !== null) {
      // Staff move money on accounts that are not theirs: every attempt is audited, in the
      // same transaction as the movement it describes.
      batch.audit.push({
        actorUserId: actor.userId,
        action: kind.staffAction,
        target: `account:${command.accountNumber}`,
        outcome: outcome.ok ? 'success' : 'failure',
        ip: command.clientIp,
        details: !outcome.ok
          ? { code: outcome.error.code }
          : outcome.transaction === null
            ? { hold: outcome.hold.id, amount: outcome.hold.amount }
            : { amount: outcome.transaction.amount, currency: outcome.transaction.currency },
      });
    }
    if (keyId !== null && command.idempotency !== null) {
      batch.keys.set(keyId, { pending: outcome, requestHash: command.idempotency.requestHash });
      batch.keysToStore.push({
        userId: actor.userId,
        key: command.idempotency.key,
        requestHash: command.idempotency.requestHash,
        outcome,
      });
    }
    return outcome;
  }

  /** Runs the kind's rules, applies its postings to the running balances, plans the entry. */
  #move(context: KindContext, command: MoneyCommand): StoredOutcome {
    const kind = kindOf(command);
    const plan = kind.plan(context, command);
    if (isRefusal(plan)) return failure(plan);
    const legs = Array.isArray(plan) ? plan : plan.postings;
    // A kind without postings (placing or voiding a hold) answers its hold.
    if (legs.length === 0 && !Array.isArray(plan)) {
      return { ok: true, transaction: null, hold: plan.hold };
    }
    const entryKind = kind.entryKind?.(command) ?? (command.kind as PlannedEntry['kind']);
    const postings: PlannedPosting[] = legs.map((leg) => ({
      ...leg,
      balanceAfterMinor:
        leg.direction === 'credit'
          ? leg.account.balanceMinor + leg.amountMinor
          : leg.account.balanceMinor - leg.amountMinor,
    }));
    // The running balances are the state the next command in the batch sees.
    for (const posting of postings) posting.account.balanceMinor = posting.balanceAfterMinor;

    const own = postings[0];
    if (own === undefined || own.account !== context.account) {
      throw new Error(`${command.kind}: the first posting must be on the command's account`);
    }
    const counterparty = own.counterparty;
    const outcome = {
      ok: true as const,
      transaction: toTransactionView({
        postingId: 0n,
        accountNumber: own.account.accountNumber,
        entryKind,
        direction: own.direction,
        amountMinor: own.amountMinor,
        currency: own.account.currency,
        balanceAfterMinor: own.balanceAfterMinor,
        counterpartyAccount: counterparty.kind === 'customer' ? counterparty.accountNumber : null,
        description: command.description,
        createdAt: context.batch.now,
      }),
    };
    context.batch.entries.push({
      kind: entryKind,
      currency: command.currency,
      amountMinor: command.amountMinor,
      description: command.description,
      actorUserId: command.actor.userId,
      postings,
      outcome,
    });
    return outcome;
  }
}
