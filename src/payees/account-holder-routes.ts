import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { isValidAccountNumber } from '../accounts/account-number.ts';
import { findAccountByNumber } from '../accounts/accounts-repository.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { authenticate, principalOf } from '../http/auth-guard.ts';
import { AccountNumberParam, errorResponses, Security } from '../http/schemas.ts';
import type { App } from '../http/types.ts';

const ONE_MINUTE_MS = 60_000;

const AccountHolderSchema = Type.Object(
  {
    accountNumber: Type.String(),
    holderName: Type.String({ description: 'masked: the first name, then initials ("Bob B.")' }),
    currency: Type.String(),
    canReceive: Type.Boolean({ description: 'false while the account is frozen' }),
    ownAccount: Type.Boolean({ description: "true when it is one of the caller's own accounts" }),
  },
  { title: 'AccountHolder' },
);

/**
 * "Bob Browne" → "Bob B.", "Ana María de la Cruz" → "Ana M. d. l. C.". Enough for a payer
 * to recognise the person they mean to pay, not enough to harvest full names from account
 * numbers (the lookup is also rate-limited per user).
 */
export function maskHolderName(fullName: string): string {
  const [first = '', ...rest] = fullName.trim().split(/\s+/);
  const initials = rest.map((word) => `${[...word][0] ?? ''}.`);
  return [first, ...initials].join(' ').trim();
}

/**
 * Confirmation of payee for the transfer review: who holds an account number, in which
 * currency, and whether it can receive money now. Any signed-in user may ask, within a
 * per-user rate limit; the answer for a number no customer holds is 404.
 */
export function registerAccountHolderRoutes(
  app: App,
  services: { db: Db; tokens: TokenService; config: Config },
): void {
  const { db, config } = services;
  app.get(
    '/api/v1/account-holders/:accountNumber',
    {
      onRequest: authenticate(services.tokens),
      config: {
        // Keyed by the signed-in user (the guard ran in onRequest), so walking account
        // numbers to collect names is slow from any number of addresses.
        rateLimit: {
          max: config.rateLimits.holderLookupsPerMinute,
          timeWindow: ONE_MINUTE_MS,
          keyGenerator: (request: FastifyRequest) =>
            request.principal === null
              ? `holder-lookup:ip:${request.ip}`
              : `holder-lookup:user:${request.principal.userId}`,
        },
      },
      schema: {
        tags: ['accounts'],
        summary: 'Who holds an account number (masked name), its currency and status',
        description:
          'For checking a payee before a transfer. Rate-limited per user ' +
          '(RATE_LIMIT_HOLDER_LOOKUPS_PER_MINUTE). A number with wrong check digits is 400, ' +
          'a number no customer holds is 404.',
        security: Security,
        params: Type.Object({ accountNumber: AccountNumberParam }),
        response: { 200: AccountHolderSchema, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const { accountNumber } = request.params;
      if (!isValidAccountNumber(accountNumber)) {
        throw new CorebankError(
          'VALIDATION_FAILED',
          'accountNumber check digits do not match',
          'accountNumber',
        );
      }
      const account = await findAccountByNumber(db, accountNumber);
      const holder =
        account === null || account.kind !== 'customer' || account.userId === null
          ? undefined
          : await db
              .selectFrom('users')
              .select(['full_name'])
              .where('id', '=', account.userId)
              .executeTakeFirst();
      if (account === null || holder === undefined) {
        throw new CorebankError('NOT_FOUND', 'no customer holds this account number');
      }
      return {
        accountNumber: account.accountNumber,
        holderName: maskHolderName(holder.full_name),
        currency: account.currency,
        canReceive: account.status === 'active',
        ownAccount: account.userId === principalOf(request).userId,
      };
    },
  );
}
