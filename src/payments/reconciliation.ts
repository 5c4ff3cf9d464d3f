import type { Db } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { formatMinor } from '../money/money.ts';
import type { PaymentNetworkClient } from './network-client.ts';
import type { SettlementEntry } from './network-protocol.ts';
import type { StatusChange } from './payments-repository.ts';

/**
 * One movement on either side. `kind` says whether it is the payment itself or the return
 * of a settled payment; `direction` is the way the money went for this bank (a return of our
 * outbound payment comes `inbound`; a payment we sent back goes `outbound`).
 */
export interface ReconciliationItem {
  kind: 'payment' | 'return';
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

type LedgerItem = ReconciliationItem & { minor: bigint };

/**
 * The key both sides share: what moved, which way, and the id both sides know it by. Our own
 * outbound payment (and its return) goes by our payment id, which the network has as the
 * instruction id; another bank's payment to us goes by the network's payment id.
 */
function keyOf(
  kind: 'payment' | 'return',
  direction: 'outbound' | 'inbound',
  paymentId: string | null,
  networkPaymentId: string | null,
): string {
  const ours = (kind === 'payment') === (direction === 'outbound');
  return `${kind}:${direction}:${ours ? paymentId : networkPaymentId}`;
}

/**
 * Compares one UTC day's movements in our ledger with the network's settlement report for
 * that day, and lists every difference. The one comparison behind both the staff endpoint
 * (`GET /api/v1/admin/reconciliation`) and the operator's `corebank reconcile`.
 *
 * The ledger's movements of the day:
 * - an outbound payment whose history says `settled` that day (matched by instruction id =
 *   our payment id);
 * - an inbound payment credited that day (matched by the network's payment id);
 * - an outbound payment whose history says `returned` that day, with the amount of the
 *   return credit it posted (its posting, `return_transaction_id`); a returned payment
 *   without that credit is not a movement of ours, so the network's return shows as missing
 *   in the ledger.
 *
 * Payments we sent back on receipt (unknown or frozen account) post nothing: the network
 * reports them twice (an inbound payment and an outbound return of the same payment id), and
 * both match the ledger's nothing, unless the ledger credited that payment after all (then
 * the network's return is money our ledger never moved out).
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
  const ours = await ledgerMovements(db, date);
  return compare(date, ours, report.value.entries, await creditedInbound(db, report.value.entries));
}

async function ledgerMovements(db: Db, date: string): Promise<Map<string, LedgerItem>> {
  const rows = await db
    .selectFrom('payments')
    .select([
      'id',
      'direction',
      'account_id',
      'amount_minor',
      'currency',
      'status_history',
      'network_payment_id',
      'return_transaction_id',
    ])
    .where('status', 'in', ['settled', 'returned', 'credited'])
    .execute();
  const days = rows.map((row) => {
    const history = JSON.parse(row.status_history) as StatusChange[];
    const dayOf = (status: StatusChange['status']) =>
      history.find((change) => change.status === status)?.at.slice(0, 10);
    return { settled: dayOf('settled'), credited: dayOf('credited'), returned: dayOf('returned') };
  });
  const credits = await returnCredits(
    db,
    rows.filter((_row, i) => days[i]?.returned === date).map((row) => row.return_transaction_id),
  );
  const ours = new Map<string, LedgerItem>();
  const add = (item: LedgerItem) =>
    ours.set(keyOf(item.kind, item.direction, item.paymentId, item.networkPaymentId), item);
  rows.forEach((row, i) => {
    const day = days[i];
    const base = {
      paymentId: row.id,
      networkPaymentId: row.network_payment_id,
      currency: row.currency,
    };
    const amount = (minor: bigint) => ({ amount: formatMinor(minor, row.currency), minor });
    if (row.direction === 'inbound') {
      if (day?.credited === date) {
        add({ ...base, kind: 'payment', direction: 'inbound', ...amount(row.amount_minor) });
      }
      return;
    }
    if (day?.settled === date) {
      add({ ...base, kind: 'payment', direction: 'outbound', ...amount(row.amount_minor) });
    }
    const credit = credits.get(row.return_transaction_id ?? '');
    if (day?.returned === date && credit !== undefined && credit.accountId === row.account_id) {
      add({ ...base, kind: 'return', direction: 'inbound', ...amount(credit.minor) });
    }
  });
  return ours;
}

/** The return credits' postings (credits only), by posting id as the payments row has it. */
async function returnCredits(
  db: Db,
  ids: Array<string | null>,
): Promise<Map<string, { accountId: bigint; minor: bigint }>> {
  const wanted = ids.filter((id): id is string => id !== null && /^\d{1,19}$/.test(id));
  if (wanted.length === 0) return new Map();
  const rows = await db
    .selectFrom('postings')
    .select(['id', 'account_id', 'amount_minor'])
    .where('direction', '=', 'credit')
    .where(
      'id',
      'in',
      wanted.map((id) => BigInt(id)),
    )
    .execute();
  return new Map(
    rows.map((row) => [String(row.id), { accountId: row.account_id, minor: row.amount_minor }]),
  );
}

/** Of the payments the report says we sent back, those our ledger credited all the same. */
async function creditedInbound(db: Db, entries: SettlementEntry[]): Promise<Set<string>> {
  const sentBack = entries
    .filter((entry) => entry.kind === 'return' && entry.direction === 'outbound')
    .map((entry) => entry.paymentId);
  if (sentBack.length === 0) return new Set();
  const rows = await db
    .selectFrom('payments')
    .select('network_payment_id')
    .where('direction', '=', 'inbound')
    .where('status', '=', 'credited')
    .where('network_payment_id', 'in', sentBack)
    .execute();
  return new Set(rows.map((row) => row.network_payment_id ?? ''));
}

function compare(
  date: string,
  ours: Map<string, LedgerItem>,
  entries: SettlementEntry[],
  credited: Set<string>,
): ReconciliationReport {
  const result: ReconciliationReport = {
    date,
    matched: 0,
    missingInLedger: [],
    missingInNetwork: [],
    amountMismatches: [],
  };
  const sentBackToday = new Set(
    entries
      .filter((entry) => entry.kind === 'return' && entry.direction === 'outbound')
      .map((entry) => entry.paymentId),
  );
  for (const entry of entries) {
    const ourId = (entry.kind === 'payment') === (entry.direction === 'outbound');
    const item: ReconciliationItem = {
      kind: entry.kind,
      paymentId: ourId ? entry.instructionId : null,
      networkPaymentId: entry.paymentId,
      direction: entry.direction,
      amount: entry.amount,
      currency: entry.currency,
    };
    const key = keyOf(entry.kind, entry.direction, item.paymentId, item.networkPaymentId);
    const mine = ours.get(key);
    if (mine === undefined) {
      // Sent back on receipt: nothing posted either way, which is what the ledger shows.
      const sentBack =
        entry.kind === 'return' && entry.direction === 'outbound'
          ? !credited.has(entry.paymentId)
          : entry.kind === 'payment' &&
            entry.direction === 'inbound' &&
            sentBackToday.has(entry.paymentId);
      if (sentBack) result.matched += 1;
      else result.missingInLedger.push(item);
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

/** Whether a report found nothing to look into. */
export function isReconciled(report: ReconciliationReport): boolean {
  return (
    report.missingInLedger.length === 0 &&
    report.missingInNetwork.length === 0 &&
    report.amountMismatches.length === 0
  );
}
