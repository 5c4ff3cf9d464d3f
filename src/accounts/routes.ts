import { Type } from 'typebox';
import type { TokenService } from '../auth/tokens.ts';
import { authenticatedRoutes, principalOf } from '../http/auth-guard.ts';
import {
  AccountNumberParam,
  AccountSchema,
  CurrencyCode,
  errorResponses,
  PageQuery,
  Security,
  TransactionSchema,
} from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import type { AccountsService } from './accounts-service.ts';

const AccountParams = Type.Object({ accountNumber: AccountNumberParam });

export function registerAccountRoutes(
  app: App,
  services: { accounts: AccountsService; tokens: TokenService },
): void {
  const { accounts } = services;
  authenticatedRoutes(app, services.tokens, (scope) => {
    scope.post(
      '/api/v1/accounts',
      {
        schema: {
          tags: ['accounts'],
          summary: 'Open an account',
          security: Security,
          body: Type.Object(
            {
              currency: Type.Optional(CurrencyCode),
              type: Type.Optional(Type.Enum(['checking', 'savings'])),
              nickname: Type.Optional(
                Type.String({
                  minLength: 1,
                  maxLength: 50,
                  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
                }),
              ),
            },
            { additionalProperties: false },
          ),
          response: { 201: AccountSchema, ...errorResponses(400, 401, 403, 409) },
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

    scope.get(
      '/api/v1/accounts',
      {
        schema: {
          tags: ['accounts'],
          summary: 'List your own accounts',
          security: Security,
          response: {
            200: Type.Object({ data: Type.Array(AccountSchema) }),
            ...errorResponses(401),
          },
        },
      },
      async (request) => accounts.list(principalOf(request)),
    );

    scope.get(
      '/api/v1/accounts/:accountNumber',
      {
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

    scope.get(
      '/api/v1/accounts/:accountNumber/transactions',
      {
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
  });
}
