import { isReadingStaff, type Principal } from '../auth/roles.ts';
import { type Db, isUniqueViolation } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { accountOpened } from '../events/event-data.ts';
import { appendEvent } from '../events/outbox.ts';
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
  /** Equal to the balance until holds (authorisations) exist. */
  availableBalance: string;
  status: 'active' | 'frozen';
  createdAt: string;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** A customer may hold at most this many accounts: every collection has a bound. */
export const MAX_ACCOUNTS_PER_USER = 10;
const NUMBER_ATTEMPTS = 5;

export function toAccountView(account: AccountRecord): AccountView {
  if (account.type === 'cash') throw new Error('system accounts are never shown to customers');
  const balance = formatMinor(account.balanceMinor, account.currency);
  return {
    accountNumber: account.accountNumber,
    currency: account.currency,
    type: account.type,
    nickname: account.nickname,
    balance,
    availableBalance: balance,
    status: account.status,
    createdAt: account.createdAt,
  };
}

const CURSOR_PREFIX = 'p1:';
/** Largest 64-bit signed integer: posting ids never exceed it, and both engines refuse more. */
const MAX_POSTING_ID = 9_223_372_036_854_775_807n;

function encodeCursor(postingId: bigint): string {
  return Buffer.from(`${CURSOR_PREFIX}${postingId}`).toString('base64url');
}

function decodeCursor(cursor: string): bigint {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const digits = text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length) : '';
  if (!/^[1-9]\d{0,18}$/.test(digits) || BigInt(digits) > MAX_POSTING_ID) {
    throw new CorebankError('VALIDATION_FAILED', 'cursor is not one this API issued', 'cursor');
  }
  return BigInt(digits);
}

export class AccountsService {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async open(
    principal: Principal,
    input: { currency: string; type: 'checking' | 'savings'; nickname: string | null },
  ): Promise<AccountView> {
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
    return { data: accounts.map(toAccountView) };
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
    return toAccountView(await this.readable(principal, accountNumber));
  }

  async history(
    principal: Principal,
    accountNumber: string,
    page: { limit: number; cursor: string | null },
  ): Promise<Page<TransactionView>> {
    const beforePostingId = page.cursor === null ? null : decodeCursor(page.cursor);
    const account = await this.readable(principal, accountNumber);
    // One row more than asked tells whether another page exists.
    const rows = await listAccountHistory(this.#db, account.id, {
      limit: page.limit + 1,
      beforePostingId,
    });
    const shown = rows.slice(0, page.limit);
    const last = shown.at(-1);
    return {
      data: shown.map((row) =>
        toTransactionView({
          ...row,
          accountNumber: account.accountNumber,
          counterpartyAccount: row.counterpartyKind === 'customer' ? row.counterpartyNumber : null,
        }),
      ),
      nextCursor:
        rows.length > page.limit && last !== undefined ? encodeCursor(last.postingId) : null,
    };
  }
}
