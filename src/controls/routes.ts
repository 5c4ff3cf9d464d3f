import { Type } from 'typebox';
import { TOTP_PATTERN } from '../auth/mfa/crypto.ts';
import type { TokenService } from '../auth/tokens.ts';
import { authenticatedRoutes, principalOf } from '../http/auth-guard.ts';
import { errorResponses, Security } from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import type { ControlsService } from './controls-service.ts';
import { ApprovalSchema, LimitsSchema } from './schemas.ts';

/**
 * Controls (issue #13, contract "Controls: approvals, reversals and limits"): daily
 * outgoing limits, and the maker-checker approval queue with reversals.
 */

const Reason = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
});
const Otp = Type.Optional(Type.String({ pattern: TOTP_PATTERN, description: 'current TOTP code' }));
const ApprovalParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export function registerControlsRoutes(
  app: App,
  services: { controls: ControlsService; tokens: TokenService },
): void {
  const { controls } = services;
  authenticatedRoutes(app, services.tokens, (scope) => {
    scope.get(
      '/api/v1/me/limits',
      {
        schema: {
          tags: ['controls'],
          summary: "Your daily outgoing limits and today's use",
          security: Security,
          response: { 200: LimitsSchema, ...errorResponses(401) },
        },
      },
      async (request) => controls.myLimits(principalOf(request)),
    );

    scope.put(
      '/api/v1/admin/users/:userId/limits',
      {
        schema: {
          tags: ['controls'],
          summary: "Set a user's daily outgoing limits (admins)",
          security: Security,
          params: Type.Object({ userId: Type.String({ format: 'uuid' }) }),
          body: Type.Object(
            {
              dailyOutgoing: Type.Record(Type.String({ pattern: '^[A-Z]{3}$' }), Type.String(), {
                minProperties: 1,
                maxProperties: 20,
              }),
              otp: Otp,
            },
            { additionalProperties: false },
          ),
          response: { 200: LimitsSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) =>
        controls.setLimits(
          principalOf(request),
          request.params.userId,
          request.body.dailyOutgoing,
          {
            ip: request.ip,
            otp: request.body.otp,
          },
        ),
    );

    scope.get(
      '/api/v1/admin/approvals',
      {
        schema: {
          tags: ['controls'],
          summary: 'The approval queue (admins and auditors)',
          security: Security,
          querystring: Type.Object({
            status: Type.Optional(
              Type.Union([
                Type.Literal('pending'),
                Type.Literal('approved'),
                Type.Literal('rejected'),
              ]),
            ),
          }),
          response: {
            200: Type.Object({ data: Type.Array(ApprovalSchema) }),
            ...errorResponses(400, 401, 403),
          },
        },
      },
      async (request) => ({
        data: await controls.listApprovals(principalOf(request), request.query.status),
      }),
    );

    scope.get(
      '/api/v1/admin/approvals/:id',
      {
        schema: {
          tags: ['controls'],
          summary: 'One approval (admins and auditors)',
          security: Security,
          params: ApprovalParams,
          response: { 200: ApprovalSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => controls.getApproval(principalOf(request), request.params.id),
    );

    scope.post(
      '/api/v1/admin/approvals/:id/approve',
      {
        schema: {
          tags: ['controls'],
          summary: 'Approve, applying the effect in the same transaction (a second admin)',
          security: Security,
          params: ApprovalParams,
          body: Type.Union([
            Type.Object({ otp: Otp }, { additionalProperties: false }),
            Type.Null(),
          ]),
          response: { 200: ApprovalSchema, ...errorResponses(400, 401, 403, 404, 409, 422) },
        },
      },
      async (request) =>
        controls.approve(principalOf(request), request.params.id, {
          ip: request.ip,
          otp: request.body?.otp,
        }),
    );

    scope.post(
      '/api/v1/admin/approvals/:id/reject',
      {
        schema: {
          tags: ['controls'],
          summary: 'Reject, with a reason (a second admin)',
          security: Security,
          params: ApprovalParams,
          body: Type.Object({ reason: Reason, otp: Otp }, { additionalProperties: false }),
          response: { 200: ApprovalSchema, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) =>
        controls.reject(principalOf(request), request.params.id, request.body.reason, {
          ip: request.ip,
          otp: request.body.otp,
        }),
    );

    scope.post(
      '/api/v1/admin/transactions/:id/reversal',
      {
        schema: {
          tags: ['controls'],
          summary: 'Ask for a transaction to be reversed (202: a pending approval)',
          security: Security,
          params: Type.Object({ id: Type.String({ pattern: '^[0-9]{1,18}$' }) }),
          body: Type.Object({ reason: Reason, otp: Otp }, { additionalProperties: false }),
          response: { 202: ApprovalSchema, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => {
        const approval = await controls.requestReversal(
          principalOf(request),
          request.params.id,
          request.body.reason,
          { ip: request.ip, otp: request.body.otp },
        );
        reply.status(202);
        return approval;
      },
    );
  });
}
