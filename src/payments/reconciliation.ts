import type { Db } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { formatMinor } from '../money/money.ts';
import type { PaymentNetworkClient } from './network-client.ts';
import type { StatusChange } from './payments-repository.ts';

export interface ReconciliationItem {
  paymentId: string | null;
  networkPaymentId: string | null;
  direction: 'outbound' | 'inbound';
  amount: string;
  currency: string;
}

export interface ReconciliationReport {
  date: string;
  matched: number;
  missingInLedger: ReconciliationItem[];
  missingInNetwork: ReconciliationItem[];
  amountMismatches: Array<ReconciliationItem & { networkAmount: string }>;
}

/**
 * Compares one UTC day's settled payments in our ledger with the network's settlement
 * report for that day: outbound payments whose history says `settled` that day (matched by
 * instruction id = payment id) and inbound credits posted that day (matched by the network's
 * payment id). Returns are not compared yet.
 */
export async function reconcile(
  db: Db,
  client: PaymentNetworkClient,
  date: string,
): Promise<ReconciliationReport> {
  const report = await client.getSettlementReport(date);
  if (!report.ok) {
    throw new CorebankError(
      'SERVICE_UNAVAILABLE',
      `the network's report is not available: ${report.failure.kind}`,
    );
  }
  const rows = await db
    .selectFrom('payments')
    .select([
      'id',
      'direction',
      'amount_minor',
      'currency',
      'status',
      'status_history',
      'network_payment_id',
      'created_at',
    ])
    .where('status', 'in', ['settled', 'returned', 'credited'])
    .execute();
  const ours = new Map<string, ReconciliationItem & { minor: bigint }>();
  for (const row of rows) {
    const history = JSON.parse(row.status_history) as StatusChange[];
    const on =
      row.direction === 'outbound'
        ? history.find((h) => h.status === 'settled')?.at
        : history.find((h) => h.status === 'credited')?.at;
    if (on === undefined || on.slice(0, 10) !== date) continue;
    const key = row.direction === 'outbound' ? `out:${row.id}` : `in:${row.network_payment_id}`;
    ours.set(key, {
      paymentId: row.id,
      networkPaymentId: row.network_payment_id,
      direction: row.direction,
      amount: formatMinor(row.amount_minor, row.currency),
      currency: row.currency,
      minor: row.amount_minor,
    });
  }
  const result: ReconciliationReport = {
    date,
    matched: 0,
    missingInLedger: [],
    missingInNetwork: [],
    amountMismatches: [],
  };
  for (const entry of report.value.entries) {
    if (entry.kind !== 'payment') continue;
    const key =
      entry.direction === 'outbound' ? `out:${entry.instructionId}` : `in:${entry.paymentId}`;
    const mine = ours.get(key);
    const item: ReconciliationItem = {
      paymentId: entry.direction === 'outbound' ? entry.instructionId : null,
      networkPaymentId: entry.paymentId,
      direction: entry.direction,
      amount: entry.amount,
      currency: entry.currency,
    };
    if (mine === undefined) {
      result.missingInLedger.push(item);
      continue;
    }
    ours.delete(key);
    if (mine.amount !== entry.amount || mine.currency !== entry.currency) {
      const { minor: _minor, ...ledgerItem } = mine;
      result.amountMismatches.push({ ...ledgerItem, networkAmount: entry.amount });
    } else {
      result.matched += 1;
    }
  }
  for (const { minor: _minor, ...item } of ours.values()) result.missingInNetwork.push(item);
  return result;
}
