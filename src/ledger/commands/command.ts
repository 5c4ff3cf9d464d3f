import type { AccountRecord } from '../../accounts/accounts-repository.ts';
import type { AuditAction, AuditEvent } from '../../audit/audit.ts';
import type { Principal } from '../../auth/roles.ts';
import type { Engine, Trx } from '../../db/database.ts';
import type { JournalEntriesTable, PostingsTable } from '../../db/schema.ts';
import type { ErrorCode } from '../../errors.ts';
import type { PinState, UserGate } from '../batch-repository.ts';
import type { TransactionView } from '../transaction-view.ts';

/**
 * The vocabulary of the money write path: what a command is, what a command kind declares,
 * what the engine holds under its locks while it applies a batch, and what becomes of each
 * command. A new kind of command (a hold, a payment, a reversal) is one new module next to
 * this one that implements `CommandKind`, plus one line in `./index.ts`.
 */

interface CommandBase {
  actor: Principal;
  /** Client address, for the audit trail. */
  clientIp: string | null;
  amountMinor: bigint;
  currency: string;
  description: string | null;
  /** The caller's `Idempotency-Key` and a hash of what the request asked for. */
  idempotency: { key: string; requestHash: string } | null;
  /** The account the command acts on (the one in the URL). */
  accountNumber: string;
}

export interface DepositCommand extends CommandBase {
  kind: 'deposit';
}

export interface WithdrawalCommand extends CommandBase {
  kind: 'withdrawal';
  pin: string | null;
}

export interface TransferCommand extends CommandBase {
  kind: 'transfer';
  toAccountNumber: string;
  pin: string | null;
  /**
   * Set for a run of a standing order, whose PIN was checked when the customer created it
   * (src/standing-orders/): the run needs no PIN. Every other rule (locked user, ownership,
   * frozen accounts, funds) applies as to any transfer.
   */
  preAuthorisedBy?: { standingOrderId: string };
}

/**
 * The reversal of a journal entry (src/ledger/commands/reversal.ts). `accountNumber` is the
 * first customer account of the original, whose leg comes first in `legs`.
 */
export interface ReversalCommand extends CommandBase {
  kind: 'reversal';
  originalEntryId: bigint;
  originalKind: JournalEntriesTable['kind'];
  /** The original's postings; the reversal mirrors each one. */
  legs: Array<{
    accountNumber: string;
    direction: PostingsTable['direction'];
    amountMinor: bigint;
    counterpartyNumber: string;
  }>;
}

export type MoneyCommand = DepositCommand | WithdrawalCommand | TransferCommand | ReversalCommand;
export type CommandKindName = MoneyCommand['kind'];

/** Why a command was refused: a stable code, a message for the caller, the field at fault. */
export interface Refusal {
  code: ErrorCode;
  message: string;
  field?: string;
}

/** Kept under this name for callers that knew it before the write path was split up. */
export type OutcomeError = Refusal;

export function refuse(code: ErrorCode, message: string, field?: string): Refusal {
  return field === undefined ? { code, message } : { code, message, field };
}

export function isRefusal(value: object): value is Refusal {
  return 'code' in value && 'message' in value;
}

/**
 * What became of one command. `replayed` is true when the outcome was stored by an
 * earlier request with the same idempotency key and is returned again unchanged.
 */
export type CommandOutcome =
  | { ok: true; transaction: TransactionView; replayed: boolean }
  | { ok: false; error: Refusal; replayed: boolean };

/** An outcome as stored under an idempotency key (without `replayed`). */
export type StoredOutcome =
  | { ok: true; transaction: TransactionView }
  | { ok: false; error: Refusal };

/**
 * An account as a batch holds it under its row lock. `balanceMinor` and
 * `pendingHoldsMinor` are running values: each applied command changes them, and the next
 * command in the batch sees the change.
 */
export interface LockedAccount extends AccountRecord {
  /** Sum of the account's pending holds. Holds do not exist yet, so it is always 0n. */
  pendingHoldsMinor: bigint;
}

/** One leg of a planned journal entry, as the command kind declares it. */
export interface PostingPlan {
  account: LockedAccount;
  direction: PostingsTable['direction'];
  amountMinor: bigint;
  counterparty: LockedAccount;
}

/** A leg once applied to the running balance: what the persist step writes. */
export interface PlannedPosting extends PostingPlan {
  balanceAfterMinor: bigint;
}

/** A journal entry that passed every rule and will be written when the batch persists. */
export interface PlannedEntry {
  kind: JournalEntriesTable['kind'];
  currency: string;
  amountMinor: bigint;
  description: string | null;
  actorUserId: string;
  /** The first posting is on the command's own account: it is what the caller is answered. */
  postings: PlannedPosting[];
  /** Filled in with its id by the persist step; returned and stored as the outcome. */
  outcome: { ok: true; transaction: TransactionView };
}

/**
 * Extra rows a batch writes in its transaction after the postings (a command kind's own
 * rows, such as holds). Each writer must check the number of rows it touched and throw on a
 * mismatch, which aborts the whole batch.
 */
export type ExtraWrite = (context: PersistContext) => Promise<void>;

export interface PersistContext {
  trx: Trx;
  engine: Engine;
  now: string;
  /** The batch's entries, with ids assigned (`outcome.transaction.id`). */
  entries: readonly PlannedEntry[];
}

/** Everything a batch reads under its locks, then changes in memory, then writes. */
export interface BatchState {
  now: string;
  /** The acting users, locked (ascending id). */
  gates: Map<string, UserGate>;
  /** Stored idempotency keys, and those first used earlier in this batch. */
  keys: Map<string, { requestHash: string; outcome: string } | PendingKey>;
  /** Every account the batch's commands declared, locked (ascending id). */
  accounts: Map<string, LockedAccount>;
  entries: PlannedEntry[];
  keysToStore: Array<{ userId: string; key: string; requestHash: string; outcome: StoredOutcome }>;
  pinStates: Map<string, PinState>;
  audit: AuditEvent[];
  /** See `ExtraWrite`: where a command kind's own rows go. */
  extraWrites: ExtraWrite[];
}

export interface PendingKey {
  pending: StoredOutcome;
  requestHash: string;
}

/** What a command kind sees when it applies its rules. */
export interface KindContext {
  batch: BatchState;
  /** The command's own account, already checked to be one the actor may act on. */
  account: LockedAccount;
  /** How the actor reaches the account: as its owner, or through staff powers. */
  access: 'owner' | 'staff';
}

/**
 * A kind of money command. The engine does everything common (user lock, idempotency,
 * access to the command's account, PIN, staff audit, running balances, persist); the kind
 * declares only what differs.
 */
export interface CommandKind<C extends MoneyCommand = MoneyCommand> {
  kind: C['kind'];
  /**
   * The audit action when tellers and admins use this kind on other people's accounts (no
   * PIN, audited), or null when the kind is for account owners only.
   */
  staffAction: AuditAction | null;
  /** Whether the owner confirms it with the transaction PIN. */
  needsPin: boolean;
  /** Whether it takes money out of the command's account (daily limits apply). */
  outgoing: boolean;
  /** The journal entry kind it writes, when not its own name (a reversal keeps the original's). */
  entryKind?: (command: C) => JournalEntriesTable['kind'];
  /** Every account number it reads and locks, its own included. */
  locks(command: C): string[];
  /**
   * Checks the kind's rules against the locked, running state and plans its postings
   * (which must sum to zero), or refuses. Planning changes nothing: the engine applies the
   * postings to the running balances.
   */
  plan(context: KindContext, command: C): Refusal | PostingPlan[];
}
