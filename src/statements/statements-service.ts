import { isReadingStaff, type Principal } from '../auth/roles.ts';
import type { Db, Engine } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { type TransactionView, toTransactionView } from '../ledger/transaction-view.ts';
import { formatMinor } from '../money/money.ts';
import { type Period, parseInstant, periodOf } from './period.ts';
import {
  balanceAfterLastPosting,
  findStatementAccount,
  type LineCursor,
  periodTotals,
  type StatementAccount,
  statementLinesPage,
} from './statements-repository.ts';

/** The contract's statement without its lines, which are streamed after it. */
export interface StatementHeader {
  accountNumber: string;
  currency: string;
  period: { from: string; to: string };
  /** `YYYY-MM` and the time zone whose calendar month it is. */
  month: string;
  timeZone: string;
  /** True for the running month: the statement ends now. */
  monthToDate: boolean;
  openingBalance: string;
  closingBalance: string;
  totalCredits: string;
  totalDebits: string;
  lineCount: number;
}

export interface Statement {
  header: StatementHeader;
  /** The account holder's name, for printed statements. */
  customerName: string;
  /** Every line, oldest first, read from the database a page at a time. */
  lines(): AsyncGenerator<TransactionView>;
}

export interface BalanceAtView {
  accountNumber: string;
  at: string;
  balance: string;
  currency: string;
}

export interface StatementsServiceDeps {
  db: Db;
  engine: Engine;
  timeZone: string;
  /** Rows read per query while streaming a statement: bounds memory whatever the month. */
  pageSize?: number;
  now?: () => number;
}

const DEFAULT_PAGE_SIZE = 500;

export class StatementsService {
  readonly #deps: StatementsServiceDeps;
  readonly #pageSize: number;

  constructor(deps: StatementsServiceDeps) {
    this.#deps = deps;
    this.#pageSize = deps.pageSize ?? DEFAULT_PAGE_SIZE;
  }

  get timeZone(): string {
    return this.#deps.timeZone;
  }

  /**
   * The account if the principal may read it: its owner, or staff who read every account
   * (the same rule as the account's history). Anyone else gets NOT_FOUND, exactly as for a
   * number that does not exist, so a statement cannot be used to probe for accounts.
   */
  async #readable(principal: Principal, accountNumber: string): Promise<StatementAccount> {
    const account = await findStatementAccount(this.#deps.db, accountNumber);
    if (
      account === null ||
      account.kind !== 'customer' ||
      (account.userId !== principal.userId && !isReadingStaff(principal))
    ) {
      throw new CorebankError('NOT_FOUND', 'account not found');
    }
    return account;
  }

  #now(): number {
    return this.#deps.now?.() ?? Date.now();
  }

  async statement(principal: Principal, accountNumber: string, month: string): Promise<Statement> {
    const account = await this.#readable(principal, accountNumber);
    const period = periodOf(month, this.#deps.timeZone, this.#now());
    return this.statementOf(account, period);
  }

  /** A statement of an account already checked to be readable (used by the benchmark too). */
  async statementOf(account: StatementAccount, period: Period): Promise<Statement> {
    const { db, engine } = this.#deps;
    const currency = account.currency;
    // The opening balance is the balance after the last posting before the period.
    const beforeFrom = new Date(Date.parse(period.from) - 1).toISOString();
    const openingMinor = (await balanceAfterLastPosting(db, account.id, beforeFrom)) ?? 0n;
    const totals = await periodTotals(db, account.id, period.from, period.to);
    const closingMinor = openingMinor + totals.creditsMinor - totals.debitsMinor;
    const header: StatementHeader = {
      accountNumber: account.accountNumber,
      currency,
      period: { from: period.from, to: period.to },
      month: period.month,
      timeZone: this.#deps.timeZone,
      monthToDate: period.toDate,
      openingBalance: formatMinor(openingMinor, currency),
      closingBalance: formatMinor(closingMinor, currency),
      totalCredits: formatMinor(totals.creditsMinor, currency),
      totalDebits: formatMinor(totals.debitsMinor, currency),
      lineCount: totals.lineCount,
    };
    const pageSize = this.#pageSize;
    const expectedLines = totals.lineCount;
    async function* lines(): AsyncGenerator<TransactionView> {
      let after: LineCursor | null = null;
      let seen = 0;
      // Bounded: a page is read only while the totals' count says lines remain, plus one
      // page for rows written between the two queries of the month-to-date case.
      const maxPages = Math.ceil(expectedLines / pageSize) + 1;
      for (let page = 0; page < maxPages; page++) {
        const rows = await statementLinesPage(
          db,
          engine,
          account.id,
          { fromIso: period.from, toIso: period.to },
          after,
          pageSize,
        );
        for (const row of rows) {
          if (seen >= expectedLines) return;
          seen += 1;
          yield toTransactionView({
            ...row,
            accountNumber: account.accountNumber,
            counterpartyAccount:
              row.counterpartyKind === 'customer' ? row.counterpartyNumber : null,
          });
        }
        const last = rows.at(-1);
        if (last === undefined || rows.length < pageSize) return;
        after = { createdAt: last.createdAt, postingId: last.postingId };
      }
    }
    return { header, customerName: account.ownerName ?? '', lines };
  }

  async balanceAt(
    principal: Principal,
    accountNumber: string,
    at: string | undefined,
  ): Promise<BalanceAtView> {
    const atIso = at === undefined ? new Date(this.#now()).toISOString() : parseInstant(at, 'at');
    const account = await this.#readable(principal, accountNumber);
    const minor = (await balanceAfterLastPosting(this.#deps.db, account.id, atIso)) ?? 0n;
    return {
      accountNumber: account.accountNumber,
      at: atIso,
      balance: formatMinor(minor, account.currency),
      currency: account.currency,
    };
  }
}
