import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { TokenService } from '../auth/tokens.ts';
import { authenticatedRoutes, principalOf } from '../http/auth-guard.ts';
import {
  AccountNumberParam,
  Amount,
  Description,
  errorResponses,
  IdempotencyHeaders,
  Security,
  TransactionSchema,
} from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import { HOLD_MAX_SECONDS, HOLD_MIN_SECONDS, type HoldsService } from './holds-service.ts';

const HoldStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('captured'),
  Type.Literal('voided'),
  Type.Literal('expired'),
]);

export const HoldSchema = Type.Object(
  {
    id: Type.String(),
    accountNumber: Type.String(),
    amount: Type.String(),
    currency: Type.String(),
    status: HoldStatus,
    capturedAmount: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    expiresAt: Type.String({ format: 'date-time' }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { title: 'Hold' },
);

const HoldParams = Type.Object({ holdId: Type.String({ format: 'uuid' }) });
const AccountParams = Type.Object({ accountNumber: AccountNumberParam });

type Headers = { 'idempotency-key'?: string };

function replayed(reply: FastifyReply, outcome: { replayed: boolean }): void {
  if (outcome.replayed) reply.header('idempotent-replayed', 'true');
}

/** The holds API (contract v1.1 "Holds"). */
export function registerHoldRoutes(
  app: App,
  services: { holds: HoldsService; tokens: TokenService },
): void {
  const { holds } = services;
  authenticatedRoutes(app, services.tokens, (scope) => {
    scope.post(
      '/api/v1/accounts/:accountNumber/holds',
      {
        schema: {
          tags: ['holds'],
          summary: 'Place a hold on an account (tellers and admins)',
          security: Security,
          params: AccountParams,
          headers: IdempotencyHeaders,
          body: Type.Object(
            {
              amount: Amount,
              description: Type.Optional(Description),
              expiresInSeconds: Type.Optional(
                Type.Integer({ minimum: HOLD_MIN_SECONDS, maximum: HOLD_MAX_SECONDS }),
              ),
            },
            { additionalProperties: false },
          ),
          response: { 201: HoldSchema, ...errorResponses(400, 401, 403, 404, 409, 422, 423) },
        },
      },
      async (
        request: FastifyRequest<{
          Params: { accountNumber: string };
          Body: { amount: string; description?: string; expiresInSeconds?: number };
          Headers: Headers;
        }>,
        reply,
      ) => {
        const outcome = await holds.place(
          principalOf(request),
          request.params.accountNumber,
          request.body,
          request.headers['idempotency-key'] ?? null,
          request.ip,
        );
        replayed(reply, outcome);
        reply.status(201);
        return outcome.ok ? outcome.hold : undefined;
      },
    );

    scope.get(
      '/api/v1/accounts/:accountNumber/holds',
      {
        schema: {
          tags: ['holds'],
          summary: "An account's holds, newest first",
          security: Security,
          params: AccountParams,
          querystring: Type.Object({
            status: Type.Optional(HoldStatus),
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
            cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          }),
          response: {
            200: Type.Object({
              data: Type.Array(HoldSchema),
              nextCursor: Type.Union([Type.String(), Type.Null()]),
            }),
            ...errorResponses(400, 401, 404),
          },
        },
      },
      async (
        request: FastifyRequest<{
          Params: { accountNumber: string };
          Querystring: {
            status?: 'pending' | 'captured' | 'voided' | 'expired';
            limit: number;
            cursor?: string;
          };
        }>,
      ) => holds.list(principalOf(request), request.params.accountNumber, request.query),
    );

    scope.get(
      '/api/v1/holds/:holdId',
      {
        schema: {
          tags: ['holds'],
          summary: 'One hold',
          security: Security,
          params: HoldParams,
          response: { 200: HoldSchema, ...errorResponses(400, 401, 404) },
        },
      },
      async (request: FastifyRequest<{ Params: { holdId: string } }>) =>
        holds.get(principalOf(request), request.params.holdId),
    );

    scope.post(
      '/api/v1/holds/:holdId/capture',
      {
        schema: {
          tags: ['holds'],
          summary: 'Capture a hold, whole or in part, to an account or the settlement account',
          security: Security,
          params: HoldParams,
          headers: IdempotencyHeaders,
          body: Type.Object(
            {
              amount: Type.Optional(Amount),
              toAccount: Type.Optional(Type.String({ maxLength: 64 })),
            },
            { additionalProperties: false },
          ),
          response: {
            201: TransactionSchema,
            ...errorResponses(400, 401, 403, 404, 409, 422, 423),
          },
        },
        // Both fields are optional, so a capture may come without a body at all.
        preValidation: async (request: FastifyRequest) => {
          if (request.body === undefined || request.body === null) request.body = {};
        },
      },
      async (
        request: FastifyRequest<{
          Params: { holdId: string };
          Body: { amount?: string; toAccount?: string };
          Headers: Headers;
        }>,
        reply,
      ) => {
        const outcome = await holds.capture(
          principalOf(request),
          request.params.holdId,
          request.body,
          request.headers['idempotency-key'] ?? null,
          request.ip,
        );
        replayed(reply, outcome);
        reply.status(201);
        return outcome.ok ? outcome.transaction : undefined;
      },
    );

    scope.post(
      '/api/v1/holds/:holdId/void',
      {
        schema: {
          tags: ['holds'],
          summary: 'Void a pending hold',
          security: Security,
          params: HoldParams,
          headers: IdempotencyHeaders,
          response: { 200: HoldSchema, ...errorResponses(400, 401, 403, 404, 409, 423) },
        },
      },
      async (request: FastifyRequest<{ Params: { holdId: string }; Headers: Headers }>, reply) => {
        const outcome = await holds.void(
          principalOf(request),
          request.params.holdId,
          request.headers['idempotency-key'] ?? null,
          request.ip,
        );
        replayed(reply, outcome);
        return outcome.ok ? outcome.hold : undefined;
      },
    );
  });
}
