import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { TokenService } from '../auth/tokens.ts';
import { CorebankError } from '../errors.ts';
import { authenticate, principalOf } from '../http/auth-guard.ts';
import {
  AccountNumberParam,
  AccountSchema,
  Amount,
  CurrencyCode,
  Description,
  errorResponses,
  IdempotencyHeaders,
  PageQuery,
  Pin,
  Security,
  TransactionSchema,
} from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import type { CommandOutcome } from '../ledger/engine.ts';
import type { MoneyService } from '../ledger/money-service.ts';
import type { TransactionView } from '../ledger/transaction-view.ts';
import type { AccountsService } from './accounts-service.ts';

const AccountParams = Type.Object({ accountNumber: AccountNumberParam });

/**
 * Answers a money command: 201 with the transaction, or the command's error. A replayed
 * outcome (same Idempotency-Key, same request) is answered exactly as the first time and
 * marked with `Idempotent-Replayed: true`.
 */
function answer(reply: FastifyReply, outcome: CommandOutcome): TransactionView {
  if (outcome.replayed) reply.header('idempotent-replayed', 'true');
  if (!outcome.ok) {
    throw new CorebankError(outcome.error.code, outcome.error.message, outcome.error.field);
  }
  reply.status(201);
  return outcome.transaction;
}

export function registerAccountRoutes(
  app: App,
  services: { accounts: AccountsService; money: MoneyService; tokens: TokenService },
): void {
  const { accounts, money } = services;
  const guard = authenticate(services.tokens);
  const moneyErrors = errorResponses(400, 401, 403, 404, 409, 413, 422, 423);

  app.post(
    '/api/v1/accounts',
    {
      onRequest: guard,
      schema: {
        tags: ['accounts'],
        summary: 'Open an account',
        security: Security,
        body: Type.Object(
          {
            currency: Type.Optional(CurrencyCode),
            type: Type.Optional(Type.Enum(['checking', 'savings'])),
            nickname: Type.Optional(
              Type.String({ minLength: 1, maxLength: 50, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: AccountSchema, ...errorResponses(400, 401, 409) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const account = await accounts.open(principalOf(request), {
        currency: body.currency ?? 'USD',
        type: body.type ?? 'checking',
        nickname: body.nickname ?? null,
      });
      return reply.status(201).send(account);
    },
  );

  app.get(
    '/api/v1/accounts',
    {
      onRequest: guard,
      schema: {
        tags: ['accounts'],
        summary: 'List your own accounts',
        security: Security,
        response: { 200: Type.Object({ data: Type.Array(AccountSchema) }), ...errorResponses(401) },
      },
    },
    async (request) => accounts.list(principalOf(request)),
  );

  app.get(
    '/api/v1/accounts/:accountNumber',
    {
      onRequest: guard,
      schema: {
        tags: ['accounts'],
        summary: 'Read one account',
        security: Security,
        params: AccountParams,
        response: { 200: AccountSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => accounts.get(principalOf(request), request.params.accountNumber),
  );

  app.get(
    '/api/v1/accounts/:accountNumber/transactions',
    {
      onRequest: guard,
      schema: {
        tags: ['accounts'],
        summary: "An account's transactions, newest first",
        security: Security,
        params: AccountParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({
            data: Type.Array(TransactionSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) =>
      accounts.history(principalOf(request), request.params.accountNumber, {
        limit: request.query.limit,
        cursor: request.query.cursor ?? null,
      }),
  );

  // The three money routes differ only in their path, summary and body; the rest is one
  // path through the money service.
  const moneyRoutes = [
    {
      kind: 'deposit',
      path: 'deposits',
      summary: 'Deposit cash into an account',
      body: Type.Object(
        {
          amount: Amount,
          currency: Type.Optional(CurrencyCode),
          description: Type.Optional(Description),
        },
        { additionalProperties: false },
      ),
    },
    {
      kind: 'withdrawal',
      path: 'withdrawals',
      summary: 'Withdraw cash (customers confirm with their PIN)',
      body: Type.Object(
        {
          amount: Amount,
          pin: Type.Optional(Pin),
          currency: Type.Optional(CurrencyCode),
          description: Type.Optional(Description),
        },
        { additionalProperties: false },
      ),
    },
    {
      kind: 'transfer',
      path: 'transfers',
      summary: 'Transfer to another account (confirm with your PIN)',
      body: Type.Object(
        {
          toAccount: Type.String({ maxLength: 64 }),
          amount: Amount,
          pin: Pin,
          currency: Type.Optional(CurrencyCode),
          description: Type.Optional(Description),
        },
        { additionalProperties: false },
      ),
    },
  ] as const;

  for (const route of moneyRoutes) {
    app.post(
      `/api/v1/accounts/:accountNumber/${route.path}`,
      {
        onRequest: guard,
        schema: {
          tags: ['money'],
          summary: route.summary,
          security: Security,
          params: AccountParams,
          headers: IdempotencyHeaders,
          body: route.body,
          response: { 201: TransactionSchema, ...moneyErrors },
        },
      },
      async (request, reply) =>
        answer(
          reply,
          await money.submit(
            route.kind,
            principalOf(request),
            request.params.accountNumber,
            request.body,
            request.headers['idempotency-key'] ?? null,
            request.ip,
          ),
        ),
    );
  }
}
