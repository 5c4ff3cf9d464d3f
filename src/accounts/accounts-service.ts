import { hasRole, isReadingStaff, type Principal } from '../auth/roles.ts';
import { type Db, isUniqueViolation } from '../db/database.ts';
import { decodeIdCursor, encodeIdCursor, type Page, readPage } from '../db/paging.ts';
import { CorebankError } from '../errors.ts';
import { accountOpened } from '../events/event-data.ts';
import { appendEvent } from '../events/outbox.ts';
import { pendingHoldsOf } from '../holds/holds-repository.ts';
import { listAccountHistory } from '../ledger/ledger-repository.ts';
import { type TransactionView, toTransactionView } from '../ledger/transaction-view.ts';
import { currencyScale, formatMinor } from '../money/money.ts';
import { generateAccountNumber } from './account-number.ts';
import {
  type AccountRecord,
  countAccountsOfUser,
  ensureVaultAccount,
  findAccountByNumber,
  insertCustomerAccount,
  listAccountsOfUser,
} from './accounts-repository.ts';

export interface AccountView {
  accountNumber: string;
  currency: string;
  type: 'checking' | 'savings';
  nickname: string | null;
  balance: string;
  /** The balance less pending, unexpired holds. */
  availableBalance: string;
  status: 'active' | 'frozen';
  createdAt: string;
}

/** Kept here for the staff lists that import it from this module. */
export type { Page } from '../db/paging.ts';

/** A customer may hold at most this many accounts: every collection has a bound. */
export const MAX_ACCOUNTS_PER_USER = 10;
const NUMBER_ATTEMPTS = 5;

export function toAccountView(account: AccountRecord, heldMinor = 0n): AccountView {
  if (account.type === 'cash') throw new Error('system accounts are never shown to customers');
  const balance = formatMinor(account.balanceMinor, account.currency);
  return {
    accountNumber: account.accountNumber,
    currency: account.currency,
    type: account.type,
    nickname: account.nickname,
    balance,
    availableBalance: formatMinor(account.balanceMinor - heldMinor, account.currency),
    status: account.status,
    createdAt: account.createdAt,
  };
}

/** Cursor prefix of an account's history (positions are posting ids). */
const HISTORY_CURSOR = 'p1:';

export class AccountsService {
  readonly #db: Db;
  /** Where the history is read: a replica when configured (its lag accepted), else `db`. */
  readonly #readDb: Db;

  constructor(db: Db, readDb: Db = db) {
    this.#db = db;
    this.#readDb = readDb;
  }

  async open(
    principal: Principal,
    input: { currency: string; type: 'checking' | 'savings'; nickname: string | null },
  ): Promise<AccountView> {
    // Auditors read every account; one who also held accounts could move money under the
    // eyes of nobody but themselves, so that role may not open any.
    if (hasRole(principal, 'auditor')) {
      throw new CorebankError('FORBIDDEN', 'auditors may not open accounts');
    }
    currencyScale(input.currency);
    if ((await countAccountsOfUser(this.#db, principal.userId)) >= MAX_ACCOUNTS_PER_USER) {
      throw new CorebankError(
        'ACCOUNT_LIMIT_REACHED',
        `a customer may hold at most ${MAX_ACCOUNTS_PER_USER} accounts`,
      );
    }
    const now = new Date().toISOString();
    await ensureVaultAccount(this.#db, input.currency, now);
    for (let attempt = 1; ; attempt++) {
      try {
        // The account and its account.opened event commit together or not at all.
        const account = await this.#db.transaction().execute(async (trx) => {
          const opened = await insertCustomerAccount(trx, {
            accountNumber: generateAccountNumber(),
            userId: principal.userId,
            type: input.type,
            currency: input.currency,
            nickname: input.nickname,
            now,
          });
          await appendEvent(trx, accountOpened(opened));
          return opened;
        });
        return toAccountView(account);
      } catch (error) {
        // A random number can collide with an existing one; draw again, a bounded number
        // of times (at 10 billion numbers a repeat collision means something is broken).
        if (!isUniqueViolation(error) || attempt >= NUMBER_ATTEMPTS) throw error;
      }
    }
  }

  async list(principal: Principal): Promise<{ data: AccountView[] }> {
    const accounts = await listAccountsOfUser(this.#db, principal.userId);
    const held = await pendingHoldsOf(
      this.#db,
      accounts.map((a) => a.id),
      new Date().toISOString(),
    );
    return { data: accounts.map((a) => toAccountView(a, held.get(a.id))) };
  }

  /**
   * The account if the principal may read it: its owner, or staff who read everything.
   * Anyone else gets NOT_FOUND, exactly as for a number that does not exist.
   */
  async readable(principal: Principal, accountNumber: string): Promise<AccountRecord> {
    const account = await findAccountByNumber(this.#db, accountNumber);
    if (
      account === null ||
      account.kind !== 'customer' ||
      (account.userId !== principal.userId && !isReadingStaff(principal))
    ) {
      throw new CorebankError('NOT_FOUND', 'account not found');
    }
    return account;
  }

  async get(principal: Principal, accountNumber: string): Promise<AccountView> {
    const account = await this.readable(principal, accountNumber);
    const held = await pendingHoldsOf(this.#db, [account.id], new Date().toISOString());
    return toAccountView(account, held.get(account.id));
  }

  async history(
    principal: Principal,
    accountNumber: string,
    page: { limit: number; cursor: string | null },
  ): Promise<Page<TransactionView>> {
    const beforePostingId = decodeIdCursor(HISTORY_CURSOR, page.cursor);
    const account = await this.readable(principal, accountNumber);
    return readPage(
      page.limit,
      (limit) => listAccountHistory(this.#readDb, account.id, { limit, beforePostingId }),
      (last) => encodeIdCursor(HISTORY_CURSOR, last.postingId),
      (row) =>
        toTransactionView({
          ...row,
          accountNumber: account.accountNumber,
          counterpartyAccount: row.counterpartyKind === 'customer' ? row.counterpartyNumber : null,
        }),
    );
  }
}
