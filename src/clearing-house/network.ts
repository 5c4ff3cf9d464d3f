import crypto from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { formatMinor, parseAmount } from '../money/money.ts';
import type {
  NetworkEventType,
  NetworkPayment,
  PaymentInstruction,
  RejectionReason,
  SettlementEntry,
  SettlementReport,
  SettlementTotal,
} from '../payments/network-protocol.ts';
import type { ClearingHouseConfig } from './config.ts';
import type { Faults } from './faults.ts';
import { inTransaction } from './store.ts';

/** Emits one event to one bank; the delivery queue signs, sends and retries it. */
export type EventSink = (bankCode: string, type: NetworkEventType, payment: NetworkPayment) => void;

export type SubmitResult =
  | { kind: 'accepted'; status: number; body: NetworkPayment; replayed: boolean }
  | { kind: 'conflict' }
  | { kind: 'same_bank' };

export type ReturnResult =
  | { kind: 'returned'; payment: NetworkPayment }
  | { kind: 'not_found' }
  | { kind: 'not_returnable'; status: NetworkPayment['status'] };

interface PaymentRow {
  id: string;
  debtor_bank: string;
  creditor_bank: string;
  instruction_id: string;
  request_hash: string;
  response_status: number;
  response_body: string;
  status: string;
  doc: string;
}

/** JSON with object keys sorted, so two bodies that mean the same thing hash the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The largest amount the network carries, in minor units (a sanity bound, not a limit). */
const MAX_MINOR = 10n ** 15n;

/**
 * The clearing house: takes payment instructions from member banks, settles or rejects each
 * one asynchronously, and tells both banks by event. Every method is synchronous over the
 * SQLite store, so each runs alone on the event loop.
 */
export class ClearingHouse {
  readonly #db: DatabaseSync;
  readonly #config: ClearingHouseConfig;
  readonly #faults: Faults;
  readonly #emit: EventSink;
  readonly #memberCodes: ReadonlySet<string>;

  constructor(db: DatabaseSync, config: ClearingHouseConfig, faults: Faults, emit: EventSink) {
    this.#db = db;
    this.#config = config;
    this.#faults = faults;
    this.#emit = emit;
    this.#memberCodes = new Set(config.members.map((member) => member.bankCode));
  }

  /** A bank that can receive payments: a configured member or the sandbox bank. */
  isKnownBank(bankCode: string): boolean {
    return this.#memberCodes.has(bankCode) || bankCode === this.#config.sandboxBankCode;
  }

  /**
   * Validates the amount against its currency; returns a message for the sender, or
   * undefined when it is well formed. The body's shape was already checked by the schema.
   */
  amountProblem(instruction: PaymentInstruction): string | undefined {
    try {
      parseAmount(instruction.amount, instruction.currency, { maxMinor: MAX_MINOR });
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /**
   * Accepts an instruction from `debtorBank`, idempotently by instruction id: the same id with
   * the same body answers exactly what the first call answered; with another body, conflict.
   */
  submit(debtorBank: string, instruction: PaymentInstruction, now = new Date()): SubmitResult {
    const requestHash = crypto
      .createHash('sha256')
      .update(canonicalJson(instruction))
      .digest('hex');
    const existing = this.#db
      .prepare('SELECT * FROM payments WHERE debtor_bank = ? AND instruction_id = ?')
      .get(debtorBank, instruction.instructionId) as PaymentRow | undefined;
    if (existing !== undefined) {
      if (existing.request_hash !== requestHash) return { kind: 'conflict' };
      return {
        kind: 'accepted',
        status: existing.response_status,
        body: JSON.parse(existing.response_body) as NetworkPayment,
        replayed: true,
      };
    }
    if (instruction.creditor.bankCode === debtorBank) return { kind: 'same_bank' };
    const payment: NetworkPayment = {
      id: `pmt_${crypto.randomUUID()}`,
      instructionId: instruction.instructionId,
      status: 'accepted',
      amount: instruction.amount,
      currency: instruction.currency,
      debtor: { bankCode: debtorBank, ...instruction.debtor },
      creditor: { ...instruction.creditor },
      reference: instruction.reference ?? null,
      rejectionReason: null,
      returnReason: null,
      createdAt: now.toISOString(),
      settledAt: null,
      rejectedAt: null,
      returnedAt: null,
    };
    const body = JSON.stringify(payment);
    this.#db
      .prepare(
        `INSERT INTO payments (id, debtor_bank, creditor_bank, instruction_id, request_hash,
           response_status, response_body, status, settle_due_at, doc)
         VALUES (?, ?, ?, ?, ?, 202, ?, 'accepted', ?, ?)`,
      )
      .run(
        payment.id,
        debtorBank,
        payment.creditor.bankCode,
        payment.instructionId,
        requestHash,
        body,
        now.getTime() + this.#config.settlementDelayMs,
        body,
      );
    return { kind: 'accepted', status: 202, body: payment, replayed: false };
  }

  /** A payment the bank is party to, by network id or by its own instruction id. */
  find(bankCode: string, id: string): NetworkPayment | undefined {
    const row = this.#db
      .prepare(
        `SELECT doc FROM payments WHERE (id = ? AND (debtor_bank = ? OR creditor_bank = ?))
           OR (debtor_bank = ? AND instruction_id = ?) LIMIT 1`,
      )
      .get(id, bankCode, bankCode, bankCode, id) as { doc: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.doc) as NetworkPayment);
  }

  /** Settles or rejects every accepted payment whose settlement time has come. */
  settleDue(now = new Date()): number {
    const due = this.#db
      .prepare(
        `SELECT doc FROM payments WHERE status = 'accepted' AND settle_due_at <= ?
         ORDER BY settle_due_at, id LIMIT 200`,
      )
      .all(now.getTime()) as Array<{ doc: string }>;
    for (const { doc } of due) {
      const payment = JSON.parse(doc) as NetworkPayment;
      let reason: RejectionReason | undefined;
      if (!this.isKnownBank(payment.creditor.bankCode)) reason = 'unknown_bank';
      else if (this.#faults.takeRejection()) reason = 'network_refused';
      if (reason !== undefined) {
        const rejected: NetworkPayment = {
          ...payment,
          status: 'rejected',
          rejectionReason: reason,
          rejectedAt: now.toISOString(),
        };
        inTransaction(this.#db, () => {
          this.#save(rejected, null);
          this.#emit(payment.debtor.bankCode, 'payment.rejected', rejected);
        });
        continue;
      }
      const settled: NetworkPayment = {
        ...payment,
        status: 'settled',
        settledAt: now.toISOString(),
      };
      inTransaction(this.#db, () => {
        this.#save(settled, null);
        this.#emit(payment.debtor.bankCode, 'payment.settled', settled);
        this.#emit(payment.creditor.bankCode, 'payment.received', settled);
      });
      // The sandbox bank takes every account number; it sends a payment back only when the
      // `sandboxReturnNext` fault asks it to.
      if (
        payment.creditor.bankCode === this.#config.sandboxBankCode &&
        this.#faults.takeSandboxReturn()
      ) {
        this.returnPayment(payment.creditor.bankCode, payment.id, 'sandbox_return', now);
      }
    }
    return due.length;
  }

  /**
   * The creditor's bank sends a settled payment back (unknown or closed account, …). The
   * return settles at once, on the day it happens, and both banks are told. Returning a
   * returned payment again is answered with it as it is.
   */
  returnPayment(creditorBank: string, id: string, reason: string, now = new Date()): ReturnResult {
    const row = this.#db
      .prepare('SELECT doc FROM payments WHERE id = ? AND creditor_bank = ?')
      .get(id, creditorBank) as { doc: string } | undefined;
    if (row === undefined) return { kind: 'not_found' };
    const payment = JSON.parse(row.doc) as NetworkPayment;
    if (payment.status === 'returned') return { kind: 'returned', payment };
    if (payment.status !== 'settled') return { kind: 'not_returnable', status: payment.status };
    const returned: NetworkPayment = {
      ...payment,
      status: 'returned',
      returnReason: reason,
      returnedAt: now.toISOString(),
    };
    inTransaction(this.#db, () => {
      this.#save(returned, null);
      this.#emit(payment.debtor.bankCode, 'payment.returned', returned);
      this.#emit(payment.creditor.bankCode, 'payment.returned', returned);
    });
    return { kind: 'returned', payment: returned };
  }

  #save(payment: NetworkPayment, settleDueAt: number | null): void {
    const result = this.#db
      .prepare(
        `UPDATE payments SET status = ?, settle_due_at = ?, settled_date = ?, returned_date = ?,
           doc = ? WHERE id = ?`,
      )
      .run(
        payment.status,
        settleDueAt,
        payment.settledAt?.slice(0, 10) ?? null,
        payment.returnedAt?.slice(0, 10) ?? null,
        JSON.stringify(payment),
        payment.id,
      );
    if (result.changes !== 1) throw new Error(`payment ${payment.id} was not saved`);
  }

  /** Every movement that settled for `bankCode` on `date` (UTC), with totals per currency. */
  settlementReport(bankCode: string, date: string): SettlementReport {
    const rows = this.#db
      .prepare(
        `SELECT doc FROM payments
         WHERE (debtor_bank = ? OR creditor_bank = ?) AND (settled_date = ? OR returned_date = ?)`,
      )
      .all(bankCode, bankCode, date, date) as Array<{ doc: string }>;
    const entries: SettlementEntry[] = [];
    for (const { doc } of rows) {
      const payment = JSON.parse(doc) as NetworkPayment;
      const weSent = payment.debtor.bankCode === bankCode;
      const counterpartyBankCode = weSent ? payment.creditor.bankCode : payment.debtor.bankCode;
      const common = {
        paymentId: payment.id,
        instructionId: payment.instructionId,
        amount: payment.amount,
        currency: payment.currency,
        counterpartyBankCode,
      };
      if (payment.settledAt?.startsWith(date)) {
        entries.push({
          ...common,
          kind: 'payment',
          direction: weSent ? 'outbound' : 'inbound',
          settledAt: payment.settledAt,
        });
      }
      if (payment.returnedAt?.startsWith(date)) {
        entries.push({
          ...common,
          kind: 'return',
          direction: weSent ? 'inbound' : 'outbound',
          settledAt: payment.returnedAt,
        });
      }
    }
    entries.sort((a, b) =>
      a.settledAt === b.settledAt
        ? a.paymentId.localeCompare(b.paymentId)
        : a.settledAt.localeCompare(b.settledAt),
    );
    const sums = new Map<string, { outCount: number; out: bigint; inCount: number; in: bigint }>();
    for (const entry of entries) {
      const sum = sums.get(entry.currency) ?? { outCount: 0, out: 0n, inCount: 0, in: 0n };
      const minor = parseAmount(entry.amount, entry.currency, { maxMinor: MAX_MINOR });
      if (entry.direction === 'outbound') {
        sum.outCount += 1;
        sum.out += minor;
      } else {
        sum.inCount += 1;
        sum.in += minor;
      }
      sums.set(entry.currency, sum);
    }
    const totals: SettlementTotal[] = [...sums.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([currency, sum]) => ({
        currency,
        outboundCount: sum.outCount,
        outboundAmount: formatMinor(sum.out, currency),
        inboundCount: sum.inCount,
        inboundAmount: formatMinor(sum.in, currency),
        net: formatMinor(sum.in - sum.out, currency),
      }));
    return { date, bankCode, entries, totals };
  }

  /** Counts for the control endpoint's stats. */
  counts(): {
    payments: number;
    accepted: number;
    settled: number;
    rejected: number;
    returned: number;
  } {
    const rows = this.#db
      .prepare('SELECT status, COUNT(*) AS n FROM payments GROUP BY status')
      .all() as Array<{ status: string; n: number }>;
    const of = (status: string) => Number(rows.find((row) => row.status === status)?.n ?? 0);
    return {
      payments: rows.reduce((total, row) => total + Number(row.n), 0),
      accepted: of('accepted'),
      settled: of('settled'),
      rejected: of('rejected'),
      returned: of('returned'),
    };
  }
}
