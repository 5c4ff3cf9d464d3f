import assert from 'node:assert/strict';
import { verifyLedger } from '../../src/ledger/verify.ts';
import type { Response, TestApp, TestUser } from './harness.ts';

/** Helpers shared by the money suites (concurrency, idempotency, ownership). */

export interface HistoryRow {
  id: string;
  type: string;
  amount: string;
  balanceAfter: string;
  counterpartyAccount: string | null;
  description: string | null;
}

/** "201", or the status and error code, e.g. "422 INSUFFICIENT_FUNDS". */
export function outcomeOf(response: Response): string {
  return response.status === 201 ? '201' : `${response.status} ${String(response.body.code)}`;
}

/** A problem document without its per-request `instance`, for comparing two answers. */
export function withoutInstance(body: unknown): Record<string, unknown> {
  const { instance: _instance, ...rest } = body as Record<string, unknown>;
  return rest;
}

/** The whole history of an account, newest first, following cursors (bounded). */
export async function historyOf(
  t: TestApp,
  user: TestUser,
  account: string,
): Promise<HistoryRow[]> {
  const rows: HistoryRow[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 20; page++) {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const response: Response<{ data: HistoryRow[]; nextCursor: string | null }> = await t.request(
      'GET',
      `/api/v1/accounts/${account}/transactions?limit=100${query}`,
      { token: user.token },
    );
    assert.equal(response.status, 200, JSON.stringify(response.body));
    rows.push(...response.body.data);
    cursor = response.body.nextCursor;
    if (cursor === null) return rows;
  }
  throw new Error('history has more pages than any test here writes');
}

export interface LedgerMark {
  entries: bigint;
  postings: bigint;
}

/** Verifies the ledger and returns its size, to measure what a test wrote. */
export async function ledgerMark(t: TestApp): Promise<LedgerMark> {
  const result = await verifyLedger(t.runtime.database.db);
  if (!result.ok) assert.fail(`ledger does not verify: ${result.problem}`);
  return { entries: result.counts.entries, postings: result.counts.postings };
}

/** The ledger verifies and exactly `entries` two-legged entries were written since `mark`. */
export async function assertLedgerGrew(t: TestApp, mark: LedgerMark, entries: number) {
  const now = await ledgerMark(t);
  assert.equal(now.entries - mark.entries, BigInt(entries), 'journal entries written');
  assert.equal(now.postings - mark.postings, BigInt(2 * entries), 'postings written');
}
