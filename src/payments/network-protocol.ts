/**
 * The wire protocol between a member bank (Corebank) and the payment network
 * (`src/clearing-house/`). Both sides import these types, so the shapes a bank sends and the
 * events it receives are written down once. Amounts are decimal strings in major units, as
 * everywhere in Corebank; timestamps are ISO 8601 UTC strings; dates are `YYYY-MM-DD` (UTC).
 *
 * The full description, with examples, is in docs/decisions/0012-payment-network.md.
 */

/** BIC-style bank code: 4 letters (bank), 2 letters (country), 2 letters or digits (place). */
export const BANK_CODE_PATTERN = /^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}$/;

/** The sender's own id for a payment (Corebank's payment id). */
export const INSTRUCTION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Whether plain HTTP is acceptable for this network URL. Only loopback (a sandbox network on
 * the same machine) may skip TLS: credentials and payment instructions to any other host go
 * over HTTPS or not at all.
 */
export function networkUrlAllowsHttp(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

/** The one OAuth 2.0 scope the payments API requires. */
export const PAYMENTS_SCOPE = 'payments';

export interface NetworkParty {
  bankCode: string;
  accountNumber: string;
  name: string;
}

/** `POST /v1/payments` body. The debtor's bank is the authenticated client's bank. */
export interface PaymentInstruction {
  instructionId: string;
  amount: string;
  currency: string;
  debtor: { accountNumber: string; name: string };
  creditor: NetworkParty;
  reference?: string;
}

/**
 * `accepted`: taken, not yet settled. `settled`: the money moved between the two banks (final
 * for the sender unless returned). `rejected`: it never moved (`rejectionReason` says why).
 * `returned`: it settled and the receiving bank sent it back (`returnReason`).
 */
export type NetworkPaymentStatus = 'accepted' | 'settled' | 'rejected' | 'returned';

export type RejectionReason = 'unknown_bank' | 'network_refused';

export interface NetworkPayment {
  /** The network's id (`pmt_…`), the same for both banks. */
  id: string;
  /** The sender's instruction id (unique per sending bank). */
  instructionId: string;
  status: NetworkPaymentStatus;
  amount: string;
  currency: string;
  debtor: NetworkParty;
  creditor: NetworkParty;
  reference: string | null;
  rejectionReason: RejectionReason | null;
  returnReason: string | null;
  createdAt: string;
  settledAt: string | null;
  rejectedAt: string | null;
  returnedAt: string | null;
}

/**
 * Events the network delivers to a member's `webhookUrl`, as Standard Webhooks: the body is
 * `{type, timestamp, data}` and the `webhook-id` header is the event id (the same on every
 * retry and duplicate of one event).
 *
 * - `payment.settled`  to the debtor's bank: its payment moved (capture the hold).
 * - `payment.rejected` to the debtor's bank: it never moved (void the hold).
 * - `payment.received` to the creditor's bank: credit `data.creditor.accountNumber`, or send
 *   it back (answer this webhook with `{"action":"return","reason":…}` or call
 *   `POST /v1/payments/{id}/return`).
 * - `payment.returned` to both banks: the creditor's bank sent a settled payment back; the
 *   debtor's bank credits its customer again, the creditor's bank sees its return confirmed.
 */
export type NetworkEventType =
  | 'payment.settled'
  | 'payment.rejected'
  | 'payment.received'
  | 'payment.returned';

export const NETWORK_EVENT_TYPES: readonly NetworkEventType[] = [
  'payment.settled',
  'payment.rejected',
  'payment.received',
  'payment.returned',
];

export interface NetworkEvent {
  type: NetworkEventType;
  /** When the event happened (not when this delivery was sent). */
  timestamp: string;
  /** The payment as it was when the event happened. */
  data: NetworkPayment;
}

/** A receiving bank's answer to `payment.received` that sends the payment back. */
export interface ReturnAnswer {
  action: 'return';
  reason: string;
}

/** One movement in a settlement report, from the reporting bank's point of view. */
export interface SettlementEntry {
  paymentId: string;
  instructionId: string;
  /** `payment`: the original movement; `return`: a settled payment sent back. */
  kind: 'payment' | 'return';
  /** `outbound`: money left the reporting bank; `inbound`: money reached it. */
  direction: 'outbound' | 'inbound';
  amount: string;
  currency: string;
  counterpartyBankCode: string;
  settledAt: string;
}

export interface SettlementTotal {
  currency: string;
  outboundCount: number;
  outboundAmount: string;
  inboundCount: number;
  inboundAmount: string;
  /** inbound − outbound: what the bank's clearing position moved by that day. */
  net: string;
}

/** `GET /v1/settlements?date=YYYY-MM-DD`: everything settled for the caller's bank that day. */
export interface SettlementReport {
  date: string;
  bankCode: string;
  entries: SettlementEntry[];
  totals: SettlementTotal[];
}
