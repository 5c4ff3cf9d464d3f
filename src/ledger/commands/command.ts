import type { AccountRecord } from '../../accounts/accounts-repository.ts';
import type { AuditAction, AuditEvent } from '../../audit/audit.ts';
import type { Principal } from '../../auth/roles.ts';
import type { Engine, Trx } from '../../db/database.ts';
import type { JournalEntriesTable, PostingsTable } from '../../db/schema.ts';
import { CorebankError, type ErrorCode } from '../../errors.ts';
import type { NewEvent } from '../../events/outbox.ts';
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
   * (src/standing-orders/), and for an item of a bulk request, whose one PIN the engine
   * checks for the whole request (`LedgerEngine.applyBulk`): the command needs no PIN of its
   * own. Every other rule (locked user, ownership, frozen accounts, funds, daily limits)
   * applies as to any transfer.
   */
  preAuthorisedBy?: { standingOrderId: string } | { bulkRequest: true };
}

/**
 * A bulk transfer request (`POST /api/v1/transfers/bulk`) as the engine applies it: in one
 * transaction of its own, one PIN check for the whole request, then each item as an
 * ordinary transfer command. Items the command step already refused (an account the caller
 * may not see) carry their refusal instead of a command.
 */
export interface BulkTransferGroup {
  actor: Principal;
  clientIp: string | null;
  pin: string;
  /** All or nothing: any refused item means nothing is posted. */
  atomic: boolean;
  /** The request's `Idempotency-Key`, for the request as a whole. */
  idempotency: { key: string; requestHash: string } | null;
  items: Array<{ command: TransferCommand } | { refusal: Refusal }>;
}

/** What became of one item of a bulk request. */
export interface BulkItemResult {
  index: number;
  /** `skipped`: passed its rules, but another item of an atomic request was refused. */
  status: 'posted' | 'refused' | 'skipped';
  code?: ErrorCode;
  message?: string;
  field?: string;
  transaction?: TransactionView;
}

/** A bulk request's outcome as stored under its idempotency key. */
export interface StoredBulkOutcome {
  ok: true;
  atomic: boolean;
  /** False when an atomic request was refused: nothing of it was posted. */
  posted: boolean;
  results: BulkItemResult[];
}

/**
 * What became of a bulk request: its items' results, or a refusal of the whole request
 * (locked user, wrong PIN, reused idempotency key).
 */
export type BulkOutcome =
  | (StoredBulkOutcome & { replayed: boolean })
  | { ok: false; error: Refusal; replayed: boolean };

/** Tellers and admins reserve money on an account (src/ledger/commands/hold-place.ts). */
export interface HoldPlaceCommand extends CommandBase {
  kind: 'hold_place';
  /** Chosen before the batch so an idempotent replay answers the same hold. */
  holdId: string;
  expiresAt: string;
}

/** Posts (part of) a pending hold to an account or to the bank's settlement account. */
export interface HoldCaptureCommand extends CommandBase {
  kind: 'hold_capture';
  holdId: string;
  /** Null: the bank's settlement system account of the hold's currency. */
  toAccountNumber: string | null;
  /** The capture was asked for this amount; null: the whole hold. */
  requestedMinor: bigint | null;
  /**
   * Set when an outbound payment settles (src/payments/): its customer's PIN was checked
   * when it was made, the money goes to the bank's clearing account, the payment is settled.
   */
  forPayment?: { paymentId: string };
}

/** Releases a pending hold. */
export interface HoldVoidCommand extends CommandBase {
  kind: 'hold_void';
  holdId: string;
  /** Set when an outbound payment is rejected or given up: it takes that status. */
  forPayment?: { paymentId: string; status: 'rejected' | 'failed'; reason: string };
}

/**
 * A payment to another bank (src/ledger/commands/payment.ts): the customer's PIN, a hold for
 * the amount and the payment row, in one batch; the dispatcher submits it afterwards.
 */
export interface PaymentCommand extends CommandBase {
  kind: 'payment';
  pin: string | null;
  paymentId: string;
  holdId: string;
  expiresAt: string;
  beneficiary: { name: string; bankCode: string; accountNumber: string };
  reference: string | null;
  /**
   * Set for a run of a standing order to another bank, whose PIN was checked when the
   * customer created the order (src/standing-orders/): the run needs no PIN. Every other
   * rule (locked user, ownership, frozen account, funds, daily limits) applies.
   */
  preAuthorisedBy?: { standingOrderId: string };
}

/**
 * Money another bank sent to one of our accounts, posted from the clearing account
 * (src/ledger/commands/payment-credit.ts) on the network's verified event.
 */
export interface PaymentCreditCommand extends CommandBase {
  kind: 'payment_credit';
  paymentId: string;
  networkPaymentId: string;
  from: { name: string; bankCode: string; accountNumber: string };
  reference: string | null;
  /**
   * Set when this credit is a settled outbound payment coming back: that payment becomes
   * `returned` (in the same transaction) instead of a new inbound payment being recorded.
   */
  returnOf?: { paymentId: string; reason: string };
}

export type MoneyCommand =
  | DepositCommand
  | WithdrawalCommand
  | TransferCommand
  | HoldPlaceCommand
  | HoldCaptureCommand
  | HoldVoidCommand
  | PaymentCommand
  | PaymentCreditCommand
  | ReversalCommand;

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

export type CommandKindName = MoneyCommand['kind'];

/** Why a command was refused: a stable code, a message for the caller, the field at fault. */
export interface Refusal {
  code: ErrorCode;
  message: string;
  field?: string;
  /** For INVALID_PIN: wrong PINs the user may still enter before being locked. */
  attemptsLeft?: number;
}

/** Kept under this name for callers that knew it before the write path was split up. */
export type OutcomeError = Refusal;

export function refuse(code: ErrorCode, message: string, field?: string): Refusal {
  return field === undefined ? { code, message } : { code, message, field };
}

/** The error a refusal becomes when a service reports it to its caller. */
export function refusalError(refusal: Refusal): CorebankError {
  return new CorebankError(
    refusal.code,
    refusal.message,
    refusal.field,
    refusal.attemptsLeft === undefined ? undefined : { attemptsLeft: refusal.attemptsLeft },
  );
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

/** What became of a command whose kind posts nothing and answers a hold (place, void). */
export type HoldOutcome =
  | { ok: true; transaction: null; hold: HoldView; replayed: boolean }
  | { ok: false; error: Refusal; replayed: boolean };

export type AnyOutcome = CommandOutcome | HoldOutcome;

/** An outcome as stored under an idempotency key (without `replayed`). */
export type StoredOutcome =
  | { ok: true; transaction: TransactionView }
  | { ok: true; transaction: null; hold: HoldView }
  | { ok: false; error: Refusal };

/** The contract's `hold`, as a command kind without postings answers it. */
export interface HoldView {
  id: string;
  accountNumber: string;
  amount: string;
  currency: string;
  status: 'pending' | 'captured' | 'voided' | 'expired';
  capturedAmount: string;
  description: string | null;
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
}

/** A hold as a batch reads it under its account's lock (src/holds/holds-repository.ts). */
export interface LockedHold {
  id: string;
  accountId: bigint;
  accountNumber: string;
  amountMinor: bigint;
  currency: string;
  status: HoldView['status'];
  capturedMinor: bigint;
  description: string | null;
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
}

/**
 * An account as a batch holds it under its row lock. `balanceMinor` and
 * `pendingHoldsMinor` are running values: each applied command changes them, and the next
 * command in the batch sees the change.
 */
export interface LockedAccount extends AccountRecord {
  /** Sum of the account's pending, unexpired holds (read under the account's lock). */
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
  keysToStore: Array<{
    userId: string;
    key: string;
    requestHash: string;
    outcome: StoredOutcome | StoredBulkOutcome;
  }>;
  pinStates: Map<string, PinState>;
  audit: AuditEvent[];
  /** See `ExtraWrite`: where a command kind's own rows go. */
  extraWrites: ExtraWrite[];
  /**
   * Outbox events of the batch other than `transaction.posted` (which the persist step
   * builds from the rows it writes), written last in the batch's transaction.
   */
  events: NewEvent[];
  /** Holds the commands name, and the pending holds of the locked accounts, by id. */
  holds: Map<string, LockedHold>;
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
  plan(context: KindContext, command: C): Refusal | PostingPlan[] | KindResult;
}

/**
 * What a kind plans when it answers something other than its transaction: a hold. With
 * no postings, the outcome is the hold alone.
 */
export interface KindResult {
  postings: PostingPlan[];
  hold: HoldView;
}
