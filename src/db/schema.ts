import type { ColumnType, Generated } from 'kysely';

/**
 * Row types shared by both engines. Every integer column is 64-bit and read as `bigint`
 * (SQLite with `readBigInts`, PostgreSQL with an int8 parser), and every timestamp is read
 * as an ISO 8601 UTC string, so repositories see the same values whichever engine runs.
 */
export type Timestamp = ColumnType<string, string, string>;
export type Identity = Generated<bigint>;

export interface UsersTable {
  id: string;
  username: string;
  email: string;
  full_name: string;
  password_hash: string;
  pin_hash: string | null;
  failed_pin_attempts: ColumnType<bigint, bigint | undefined, bigint>;
  /** Wrong passwords and one-time codes in a row by a signed-in user (migration 0006). */
  failed_auth_attempts: ColumnType<bigint, bigint | undefined, bigint>;
  locked_at: Timestamp | null;
  lock_reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface UserRolesTable {
  user_id: string;
  role: string;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  refresh_token_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
  /** The login this session descends from (its first session's id). */
  family_id: string | null;
  /** The session this one was rotated from; null for a login's first session. */
  parent_id: string | null;
  /** Set when the refresh token was exchanged; presenting it again is reuse. */
  spent_at: Timestamp | null;
  revoked_reason: string | null;
  /** The client's User-Agent when the session was made (cut to 256 characters). */
  user_agent: string | null;
  /** The client's address when the session was made. */
  client_ip: string | null;
}

export interface PasswordResetTokensTable {
  id: string;
  user_id: string;
  token_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface EmailOutboxTable {
  id: Identity;
  recipient: string;
  subject: string;
  body_text: string;
  created_at: Timestamp;
  attempts: ColumnType<bigint, bigint | undefined, bigint>;
  next_attempt_at: Timestamp;
  claim_token: string | null;
  claimed_until: Timestamp | null;
  sent_at: Timestamp | null;
  failed_at: Timestamp | null;
  last_error: string | null;
}

export interface AccountsTable {
  id: Identity;
  account_number: string;
  user_id: string | null;
  kind: 'customer' | 'system';
  type: 'checking' | 'savings' | 'cash';
  currency: string;
  nickname: string | null;
  status: 'active' | 'frozen';
  balance_minor: ColumnType<bigint, bigint | undefined, bigint>;
  created_at: Timestamp;
}

export interface JournalEntriesTable {
  id: Identity;
  kind: 'deposit' | 'withdrawal' | 'transfer';
  currency: string;
  amount_minor: bigint;
  description: string | null;
  actor_user_id: string | null;
  created_at: Timestamp;
}

export interface PostingsTable {
  id: Identity;
  entry_id: bigint;
  account_id: bigint;
  direction: 'debit' | 'credit';
  amount_minor: bigint;
  currency: string;
  balance_after_minor: bigint;
  counterparty_account_id: bigint | null;
  created_at: Timestamp;
}

export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  request_hash: string;
  outcome: string;
  created_at: Timestamp;
}

export interface AuditEventsTable {
  id: Identity;
  at: Timestamp;
  actor_user_id: string | null;
  action: string;
  target: string | null;
  outcome: 'success' | 'failure' | 'denied';
  ip: string | null;
  details: string | null;
  prev_hash: string;
  hash: string;
}

export interface AuditHeadTable {
  id: bigint;
  last_hash: string;
  length: bigint;
}

export interface UserMfaTable {
  user_id: string;
  /** AES-256-GCM ciphertext of the TOTP secret (see src/auth/mfa/crypto.ts). */
  secret_ciphertext: string;
  enabled_at: Timestamp | null;
  last_used_step: bigint | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface MfaRecoveryCodesTable {
  user_id: string;
  code_hash: string;
  used_at: Timestamp | null;
  created_at: Timestamp;
}

/** Payment-network webhook ids already taken (src/payments/seen-webhook-ids-repository.ts). */
export interface NetworkWebhookIdsTable {
  id: string;
  received_at: Timestamp;
  expires_at: Timestamp;
}

export interface StandingOrdersTable {
  id: string;
  user_id: string;
  account_id: bigint;
  /** Our account the order pays, or null when it pays a beneficiary at another bank. */
  to_account_id: bigint | null;
  beneficiary_name: string | null;
  beneficiary_bank_code: string | null;
  beneficiary_account: string | null;
  amount_minor: bigint;
  currency: string;
  frequency: 'daily' | 'weekly' | 'monthly';
  /** Dates are `YYYY-MM-DD` (UTC calendar days). */
  start_date: string;
  end_date: string | null;
  description: string | null;
  status: 'active' | 'cancelled' | 'stopped' | 'completed';
  stop_reason: string | null;
  next_due_date: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface StandingOrderRunsTable {
  order_id: string;
  due_date: string;
  attempt: bigint;
  run_on: string;
  status: 'pending' | 'done' | 'failed';
  transaction_id: string | null;
  /** The outbound payment a run of an order to another bank made. */
  payment_id: string | null;
  reason: string | null;
  detail: string | null;
  lease_owner: string | null;
  lease_until: Timestamp | null;
  created_at: Timestamp;
  completed_at: Timestamp | null;
}

/** The transactional outbox (src/events/outbox.ts). */
export interface EventsTable {
  sequence: bigint;
  id: string;
  type: string;
  source: string;
  time: Timestamp;
  /** The event's `data`, as JSON text. */
  data: string;
}

export interface EventSequenceTable {
  id: bigint;
  last_sequence: bigint;
}

/** A reader of the outbox: how far it got, and which process holds its lease. */
export interface EventConsumersTable {
  name: string;
  position: bigint;
  holder: string | null;
  lease_until: Timestamp | null;
  updated_at: Timestamp;
}

export interface WebhookEndpointsTable {
  id: string;
  url: string;
  description: string | null;
  event_types: string;
  secret_ciphertext: string;
  status: 'enabled' | 'disabled';
  consecutive_failures: bigint;
  disabled_at: Timestamp | null;
  disabled_reason: string | null;
  created_by: string | null;
  created_at: Timestamp;
  deleted_at: Timestamp | null;
}

export interface WebhookDeliveriesTable {
  id: Identity;
  endpoint_id: string;
  event_sequence: bigint;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: bigint;
  next_attempt_at: Timestamp;
  last_response_status: bigint | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhookAttemptsTable {
  id: Identity;
  delivery_id: bigint;
  endpoint_id: string;
  event_id: string;
  attempt: bigint;
  status: 'succeeded' | 'failed';
  response_status: bigint | null;
  error: string | null;
  duration_ms: bigint;
  at: Timestamp;
}

/** Holds (two-phase movements): see src/db/migrations/0013-holds.ts. */
export interface HoldsTable {
  id: string;
  account_id: bigint;
  amount_minor: bigint;
  currency: string;
  status: 'pending' | 'captured' | 'voided' | 'expired';
  captured_minor: ColumnType<bigint, bigint | undefined, bigint>;
  description: string | null;
  created_by: string;
  /** The capture's transaction (posting id on the hold's account). */
  capture_transaction_id: string | null;
  expires_at: Timestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** Payments to and from other banks: see src/db/migrations/0013-holds.ts. */
export interface PaymentsTable {
  id: string;
  direction: 'outbound' | 'inbound';
  account_id: bigint;
  user_id: string | null;
  amount_minor: bigint;
  currency: string;
  counterparty_name: string;
  counterparty_bank_code: string;
  counterparty_account: string;
  reference: string | null;
  status: 'pending' | 'submitted' | 'settled' | 'rejected' | 'failed' | 'returned' | 'credited';
  /** JSON array of `{status, at, reason?}`. */
  status_history: string;
  hold_id: string | null;
  transaction_id: string | null;
  /** The return credit's posting (the customer's side), once a settled payment came back. */
  return_transaction_id: string | null;
  network_payment_id: string | null;
  submit_attempts: ColumnType<bigint, bigint | undefined, bigint>;
  next_attempt_at: Timestamp | null;
  lease_until: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface UserLimitsTable {
  user_id: string;
  currency: string;
  daily_outgoing_minor: bigint;
  updated_by: string;
  updated_at: Timestamp;
}

export interface ApprovalsTable {
  id: string;
  kind: 'reversal' | 'large_deposit';
  status: 'pending' | 'approved' | 'rejected';
  requested_by: string;
  reason: string | null;
  /** JSON: what is to be done (the transaction to reverse, the deposit to make). */
  subject: string;
  /** What the request is about (`entry:<id>`, `account:<number>`): one pending per subject. */
  subject_key: string;
  decided_by: string | null;
  decision_reason: string | null;
  /** JSON: the effect once applied (the transaction posted). */
  result: string | null;
  created_at: Timestamp;
  decided_at: Timestamp | null;
}

export interface ReversalsTable {
  original_entry_id: bigint;
  reversal_entry_id: bigint;
  approval_id: string;
  created_at: Timestamp;
}

export interface Database {
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
  users: UsersTable;
  user_roles: UserRolesTable;
  sessions: SessionsTable;
  password_reset_tokens: PasswordResetTokensTable;
  email_outbox: EmailOutboxTable;
  accounts: AccountsTable;
  journal_entries: JournalEntriesTable;
  postings: PostingsTable;
  idempotency_keys: IdempotencyKeysTable;
  user_mfa: UserMfaTable;
  mfa_recovery_codes: MfaRecoveryCodesTable;
  network_webhook_ids: NetworkWebhookIdsTable;
  standing_orders: StandingOrdersTable;
  standing_order_runs: StandingOrderRunsTable;
  events: EventsTable;
  event_sequence: EventSequenceTable;
  event_consumers: EventConsumersTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  holds: HoldsTable;
  payments: PaymentsTable;
  user_limits: UserLimitsTable;
  approvals: ApprovalsTable;
  reversals: ReversalsTable;
}
