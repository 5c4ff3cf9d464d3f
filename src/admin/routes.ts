import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AUDIT_ACTIONS } from '../audit/audit.ts';
import { TOTP_PATTERN } from '../auth/mfa/crypto.ts';
import { ROLES } from '../auth/roles.ts';
import type { TokenService } from '../auth/tokens.ts';
import { isCorebankError } from '../errors.ts';
import { authenticate, principalOf } from '../http/auth-guard.ts';
import {
  AccountNumberParam,
  AccountSchema,
  CurrencyCode,
  errorResponses,
  Security,
  TransactionSchema,
} from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import { type AdminActionName, authorize, type StaffPermission } from './access.ts';
import type { StaffActions } from './staff-actions.ts';
import type { StaffReads } from './staff-reads.ts';

const AdminUserSchema = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    fullName: Type.String(),
    roles: Type.Array(Type.Enum([...ROLES])),
    locked: Type.Boolean(),
    lockReason: Type.Union([Type.String(), Type.Null()]),
    lockedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    failedPinAttempts: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { title: 'AdminUser' },
);

const AuditEventSchema = Type.Object(
  {
    id: Type.String(),
    at: Type.String({ format: 'date-time' }),
    actor: Type.Union([Type.String(), Type.Null()], { description: 'acting user id' }),
    action: Type.String(),
    target: Type.Union([Type.String(), Type.Null()]),
    outcome: Type.Union([Type.Literal('success'), Type.Literal('failure'), Type.Literal('denied')]),
    ip: Type.Union([Type.String(), Type.Null()]),
    details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  },
  { title: 'AuditEvent' },
);

const StatsSchema = Type.Object({
  users: Type.Integer(),
  accounts: Type.Integer({ description: 'customer accounts' }),
  lockedUsers: Type.Integer(),
  frozenAccounts: Type.Integer(),
  balances: Type.Array(
    Type.Object({
      currency: Type.String(),
      total: Type.String({ description: 'sum of customer balances, decimal string' }),
    }),
  ),
});

function pageOf<T extends Parameters<typeof Type.Array>[0]>(item: T) {
  return Type.Object({
    data: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  });
}

const Limit = Type.Integer({ minimum: 1, maximum: 100, default: 20 });
const Cursor = Type.Optional(Type.String({ minLength: 1, maxLength: 200 }));

/** Optional body of every staff action; MFA-enrolled staff must send a current code. */
const ActionBody = Type.Union([
  Type.Object(
    {
      otp: Type.Optional(Type.String({ pattern: TOTP_PATTERN, description: 'current TOTP code' })),
      reason: Type.Optional(
        Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
      ),
    },
    { additionalProperties: false },
  ),
  Type.Null(),
]);

const ACCOUNT_NUMBER = /^[0-9]{12}$/;
const USER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The audit target of an action, from the raw (not yet validated) path parameters. */
function rawTarget(request: FastifyRequest, action: AdminActionName): string | null {
  const params = request.params as Record<string, unknown>;
  if (action === 'user.unlocked') {
    const userId = params.userId;
    return typeof userId === 'string' && USER_ID.test(userId) ? `user:${userId}` : null;
  }
  const accountNumber = params.accountNumber;
  return typeof accountNumber === 'string' && ACCOUNT_NUMBER.test(accountNumber)
    ? `account:${accountNumber}`
    : null;
}

export function registerAdminRoutes(
  app: App,
  services: { reads: StaffReads; actions: StaffActions; tokens: TokenService },
): void {
  const { reads, actions } = services;
  const authenticated = authenticate(services.tokens);

  /**
   * Authentication, then the role check, both before the body or the query is parsed or
   * validated: a customer or a teller gets 403 on every /admin route whatever they send,
   * and learns nothing about what the route would accept. A refused action is audited.
   */
  const guard =
    (permission: StaffPermission, action?: AdminActionName) =>
    async (request: FastifyRequest): Promise<void> => {
      await authenticated(request);
      const principal = principalOf(request);
      try {
        authorize(principal, permission);
      } catch (error) {
        if (action !== undefined && isCorebankError(error)) {
          await actions.recordDenied(
            principal,
            action,
            rawTarget(request, action),
            request.ip,
            error.code,
          );
        }
        throw error;
      }
    };

  const context = (
    request: FastifyRequest<{ Body: { otp?: string; reason?: string } | null }>,
  ) => ({
    otp: request.body?.otp,
    reason: request.body?.reason ?? null,
    ip: request.ip,
  });

  app.get(
    '/api/v1/admin/stats',
    {
      onRequest: guard('read'),
      schema: {
        tags: ['admin'],
        summary: 'Counts and customer balances per currency (admins and auditors)',
        security: Security,
        response: { 200: StatsSchema, ...errorResponses(401, 403) },
      },
    },
    async (request) => reads.stats(principalOf(request)),
  );

  app.get(
    '/api/v1/admin/users',
    {
      onRequest: guard('read'),
      schema: {
        tags: ['admin'],
        summary: 'Users, newest first; `status=locked` lists the locked ones',
        security: Security,
        querystring: Type.Object({
          status: Type.Optional(Type.Union([Type.Literal('locked'), Type.Literal('active')])),
          limit: Limit,
          cursor: Cursor,
        }),
        response: { 200: pageOf(AdminUserSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => reads.users(principalOf(request), request.query),
  );

  app.post(
    '/api/v1/admin/users/:userId/unlock',
    {
      onRequest: guard('act', 'user.unlocked'),
      schema: {
        tags: ['admin'],
        summary: 'Unlock a user and reset their PIN failures (admins; MFA if enrolled)',
        description:
          'Resets the wrong-PIN and wrong-password/code counts too. Staff actions are rate ' +
          'limited per staff user (RATE_LIMIT_ADMIN_PER_MINUTE); wrong step-up codes feed the ' +
          'shared back-off (429) and count toward the lock (423 USER_LOCKED).',
        security: Security,
        params: Type.Object({ userId: Type.String({ format: 'uuid' }) }),
        body: Type.Optional(ActionBody),
        response: { 200: AdminUserSchema, ...errorResponses(400, 401, 403, 404, 423, 429) },
      },
    },
    async (request) =>
      actions.unlockUser(principalOf(request), request.params.userId, context(request)),
  );

  for (const [verb, status, action] of [
    ['freeze', 'frozen', 'account.frozen'],
    ['unfreeze', 'active', 'account.unfrozen'],
  ] as const) {
    app.post(
      `/api/v1/admin/accounts/:accountNumber/${verb}`,
      {
        onRequest: guard('act', action),
        schema: {
          tags: ['admin'],
          description:
            'Staff actions are rate limited per staff user (RATE_LIMIT_ADMIN_PER_MINUTE); ' +
            'wrong step-up codes feed the shared back-off (429) and count toward the lock ' +
            '(423 USER_LOCKED).',
          summary:
            verb === 'freeze'
              ? 'Freeze an account: no money moves in or out (admins; MFA if enrolled)'
              : 'Unfreeze an account (admins; MFA if enrolled)',
          security: Security,
          params: Type.Object({ accountNumber: AccountNumberParam }),
          body: Type.Optional(ActionBody),
          response: { 200: AccountSchema, ...errorResponses(400, 401, 403, 404, 423, 429) },
        },
      },
      async (request) =>
        actions.setAccountStatus(
          principalOf(request),
          request.params.accountNumber,
          status,
          context(request),
        ),
    );
  }

  app.get(
    '/api/v1/admin/transactions',
    {
      onRequest: guard('read'),
      schema: {
        tags: ['admin'],
        summary: 'Transaction monitor: customer transactions, newest first, filterable',
        security: Security,
        querystring: Type.Object({
          account: Type.Optional(Type.String({ maxLength: 64 })),
          type: Type.Optional(
            Type.Union([
              Type.Literal('deposit'),
              Type.Literal('withdrawal'),
              Type.Literal('transfer_in'),
              Type.Literal('transfer_out'),
            ]),
          ),
          currency: Type.Optional(CurrencyCode),
          minAmount: Type.Optional(
            Type.String({
              maxLength: 64,
              description: 'inclusive, decimal string in `currency` (default USD)',
            }),
          ),
          maxAmount: Type.Optional(
            Type.String({
              maxLength: 64,
              description: 'inclusive, decimal string in `currency` (default USD)',
            }),
          ),
          from: Type.Optional(
            Type.String({ format: 'date-time', description: 'inclusive ISO 8601 timestamp' }),
          ),
          to: Type.Optional(
            Type.String({ format: 'date-time', description: 'exclusive ISO 8601 timestamp' }),
          ),
          limit: Limit,
          cursor: Cursor,
        }),
        response: { 200: pageOf(TransactionSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => reads.transactions(principalOf(request), request.query),
  );

  app.get(
    '/api/v1/admin/audit-events',
    {
      onRequest: guard('read'),
      schema: {
        tags: ['admin'],
        summary: 'The audit trail, newest first',
        security: Security,
        querystring: Type.Object({
          action: Type.Optional(Type.Enum([...AUDIT_ACTIONS])),
          actor: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          target: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
          outcome: Type.Optional(
            Type.Union([Type.Literal('success'), Type.Literal('failure'), Type.Literal('denied')]),
          ),
          limit: Limit,
          cursor: Cursor,
        }),
        response: { 200: pageOf(AuditEventSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => reads.auditEvents(principalOf(request), request.query),
  );
}
