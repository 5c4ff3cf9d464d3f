import crypto from 'node:crypto';
import { generateAccountNumber } from '../../src/accounts/account-number.ts';
import {
  ensureVaultAccount,
  insertCustomerAccount,
} from '../../src/accounts/accounts-repository.ts';
import { hashPassword } from '../../src/auth/passwords/crypto.ts';
import { hashPin } from '../../src/auth/pin.ts';
import type { Principal } from '../../src/auth/roles.ts';
import { createSession } from '../../src/auth/sessions/service.ts';
import { TokenService } from '../../src/auth/tokens.ts';
import { insertUser, setPinHash } from '../../src/auth/users-repository.ts';
import { CommandBatcher } from '../../src/ledger/batcher.ts';
import { LedgerEngine, type MoneyCommand } from '../../src/ledger/engine.ts';
import type { Runtime } from '../../src/runtime.ts';

export const BENCH_PIN = '1357';
const BENCH_PASSWORD = 'bench password that nobody logs in with';
/** Users written per transaction while seeding. */
const SEED_CHUNK = 250;
/** Every customer starts with this much (minor units): far more than a run can spend. */
const CUSTOMER_FUNDS_MINOR = 1_000_000n; // 10,000.00
/** The merchant pays every transfer of the hot-source run. */
const MERCHANT_FUNDS_MINOR = 100_000_000n; // 1,000,000.00

export interface BenchCustomer {
  userId: string;
  account: string;
  /** Bearer access token (empty when no tokens were asked for). */
  token: string;
}

export interface Population {
  customers: BenchCustomer[];
  /** The hot account's owner: every hot transfer pays into (or out of) its account. */
  merchant: BenchCustomer;
  seedSeconds: number;
  /** Total deposited, in minor units: what the customers must hold between them forever. */
  fundedMinor: bigint;
}

/**
 * Creates `count` funded customers plus one merchant directly in the database, with the
 * project's own repository code, instead of through the API: registering through HTTP costs
 * three Argon2 hashes per customer (register, login, set PIN), minutes for a thousand.
 *
 * Everything the server checks is made the way the server makes it: one shared Argon2 hash
 * for the (never used) password, the PIN as `hashPin` with the server's pepper (the runtime's
 * secrets come from the same DATA_DIR/secrets.json the server will read), accounts with
 * valid check digits, funds as deposits through LedgerEngine and CommandBatcher (so every
 * balance is backed by postings and `ledger verify` holds from the start), and, when
 * `withTokens`, a session row per customer exactly as login writes it plus an access token
 * signed by TokenService with the server's key, issuer and audience.
 */
export async function seedPopulation(
  runtime: Runtime,
  count: number,
  withTokens: boolean,
): Promise<Population> {
  const started = performance.now();
  const { db, engine } = runtime.database;
  const { config, secrets } = runtime;
  const passwordHash = await hashPassword(BENCH_PASSWORD);
  const now = new Date().toISOString();
  const runTag = crypto.randomBytes(3).toString('hex');
  await ensureVaultAccount(db, 'USD', now);

  const people: Array<{ userId: string; account: string; sessionId: string }> = [];
  const total = count + 1; // the last one is the merchant
  for (let start = 0; start < total; start += SEED_CHUNK) {
    const end = Math.min(total, start + SEED_CHUNK);
    await db.transaction().execute(async (trx) => {
      for (let index = start; index < end; index++) {
        const userId = crypto.randomUUID();
        const username = index === count ? `merchant_${runTag}` : `bench${index}_${runTag}`;
        await insertUser(trx, {
          id: userId,
          username,
          email: `${username}@bench.corebank.invalid`,
          fullName: `Bench ${username}`,
          passwordHash,
          roles: ['customer'],
          now,
        });
        await setPinHash(trx, userId, hashPin(secrets.pinPepper, userId, BENCH_PIN), now);
        const account = await insertCustomerAccount(trx, {
          accountNumber: generateAccountNumber(),
          userId,
          type: 'checking',
          currency: 'USD',
          nickname: null,
          now,
        });
        let sessionId: string = crypto.randomUUID();
        if (withTokens) {
          ({ sessionId } = await createSession(trx, {
            userId,
            family: null,
            now: new Date(),
            refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
          }));
        }
        people.push({ userId, account: account.accountNumber, sessionId });
      }
    });
  }

  // Funding goes through the same engine and batcher as the server's deposits.
  const ledger = new LedgerEngine({
    engine,
    pinPepper: secrets.pinPepper,
    pinMaxAttempts: config.pinMaxAttempts,
  });
  const batcher = new CommandBatcher(db, ledger, {
    maxBatchSize: config.ledgerMaxBatchSize,
    maxQueueSize: total + 1,
    concurrency: engine === 'sqlite' ? 1 : 4,
  });
  let fundedMinor = 0n;
  const outcomes = await Promise.all(
    people.map((person, index) => {
      const amountMinor = index === count ? MERCHANT_FUNDS_MINOR : CUSTOMER_FUNDS_MINOR;
      fundedMinor += amountMinor;
      const command: MoneyCommand = {
        kind: 'deposit',
        actor: customerPrincipal(person.userId, person.sessionId),
        clientIp: null,
        amountMinor,
        currency: 'USD',
        description: 'benchmark funding',
        idempotency: null,
        accountNumber: person.account,
      };
      return batcher.submit(command);
    }),
  );
  const refused = outcomes.find((outcome) => !outcome.ok);
  if (refused !== undefined && !refused.ok) {
    throw new Error(`funding deposit refused: ${refused.error.code} ${refused.error.message}`);
  }

  const tokens = withTokens
    ? new TokenService(
        secrets,
        {
          issuer: config.jwtIssuer,
          audience: config.jwtAudience,
          accessTokenTtlSeconds: config.accessTokenTtlSeconds,
        },
        // Only issuing here; the server's own gate answers liveness from the sessions table.
        { isLive: async () => true },
        // Only customers are seeded; staff enrolment is checked by the server.
        { isEnabled: async () => false },
      )
    : null;
  const customers: BenchCustomer[] = [];
  for (const person of people) {
    const token =
      tokens === null
        ? ''
        : (await tokens.issueAccessToken(customerPrincipal(person.userId, person.sessionId))).token;
    customers.push({ userId: person.userId, account: person.account, token });
  }
  const merchant = customers.pop();
  if (merchant === undefined) throw new Error('no merchant was seeded');
  return {
    customers,
    merchant,
    seedSeconds: (performance.now() - started) / 1000,
    fundedMinor,
  };
}

export function customerPrincipal(userId: string, sessionId: string): Principal {
  return { userId, sessionId, roles: ['customer'] };
}
