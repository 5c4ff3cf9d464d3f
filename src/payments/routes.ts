import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { isReadingStaff } from '../auth/roles.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { Db } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { authenticatedRoutes, principalOf } from '../http/auth-guard.ts';
import {
  AccountNumberParam,
  Amount,
  errorResponses,
  IdempotencyHeaders,
  Pin,
  Security,
} from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import type { PaymentNetworkClient } from './network-client.ts';
import type { NetworkEvent } from './network-protocol.ts';
import type { NetworkWebhookVerifier } from './network-webhooks.ts';
import type { PaymentRequest, PaymentsService } from './payments-service.ts';
import { reconcile } from './reconciliation.ts';
import { forgetWebhookId } from './seen-webhook-ids-repository.ts';

const Party = Type.Object({
  name: Type.String(),
  bankCode: Type.String(),
  accountNumber: Type.String(),
});

/**
 * Someone at another bank, as a payment or a standing order names them; with
 * `checkBeneficiary` (./payments-service.ts) the one definition of a valid beneficiary.
 */
export const BeneficiarySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 140 }),
    bankCode: Type.String({ minLength: 8, maxLength: 8 }),
    accountNumber: Type.String({ pattern: '^[A-Za-z0-9]{4,34}$' }),
  },
  { additionalProperties: false },
);

export const PaymentSchema = Type.Object(
  {
    id: Type.String(),
    direction: Type.Union([Type.Literal('outbound'), Type.Literal('inbound')]),
    accountNumber: Type.String(),
    amount: Type.String(),
    currency: Type.String(),
    counterparty: Party,
    reference: Type.Union([Type.String(), Type.Null()]),
    status: Type.String(),
    statusHistory: Type.Array(
      Type.Object({
        status: Type.String(),
        at: Type.String(),
        reason: Type.Optional(Type.String()),
      }),
    ),
    holdId: Type.Union([Type.String(), Type.Null()]),
    transactionId: Type.Union([Type.String(), Type.Null()]),
    returnTransactionId: Type.Optional(
      Type.String({
        description: 'Present only on a returned payment: the credit that gave the money back',
      }),
    ),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { title: 'Payment' },
);

const AccountParams = Type.Object({ accountNumber: AccountNumberParam });

const reconciliationItemFields = {
  kind: Type.Union([Type.Literal('payment'), Type.Literal('return')]),
  paymentId: Type.Union([Type.String(), Type.Null()]),
  networkPaymentId: Type.Union([Type.String(), Type.Null()]),
  direction: Type.Union([Type.Literal('outbound'), Type.Literal('inbound')]),
  amount: Type.String({
    description: "the ledger's amount (the network's, when missing in the ledger)",
  }),
  currency: Type.String(),
};
const ReconciliationItemSchema = Type.Object(reconciliationItemFields);

export const ReconciliationSchema = Type.Object(
  {
    date: Type.String(),
    matched: Type.Integer(),
    missingInLedger: Type.Array(ReconciliationItemSchema),
    missingInNetwork: Type.Array(ReconciliationItemSchema),
    amountMismatches: Type.Array(
      Type.Object({ ...reconciliationItemFields, networkAmount: Type.String() }),
    ),
  },
  {
    title: 'Reconciliation',
    description:
      "One UTC day's settled payments and returns in the ledger against the network's " +
      'settlement report; the same comparison as `npm run corebank -- reconcile --date`.',
  },
);

/** Payments to other banks (contract v1.1), and the network's signed events. */
export function registerPaymentRoutes(
  app: App,
  deps: {
    payments: PaymentsService;
    tokens: TokenService;
    verifier: NetworkWebhookVerifier | null;
    db: Db;
    client: PaymentNetworkClient | null;
  },
): void {
  const { payments } = deps;
  authenticatedRoutes(app, deps.tokens, (scope) => {
    scope.post(
      '/api/v1/accounts/:accountNumber/payments',
      {
        schema: {
          tags: ['payments'],
          summary: 'Pay someone at another bank (confirm with your PIN)',
          security: Security,
          params: AccountParams,
          headers: IdempotencyHeaders,
          body: Type.Object(
            {
              amount: Amount,
              pin: Pin,
              beneficiary: BeneficiarySchema,
              reference: Type.Optional(Type.String({ maxLength: 140 })),
            },
            { additionalProperties: false },
          ),
          response: { 202: PaymentSchema, ...errorResponses(400, 401, 403, 404, 409, 422, 423) },
        },
      },
      async (
        request: FastifyRequest<{
          Params: { accountNumber: string };
          Body: PaymentRequest;
          Headers: { 'idempotency-key'?: string };
        }>,
        reply: FastifyReply,
      ) => {
        const { payment, replayed } = await payments.create(
          principalOf(request),
          request.params.accountNumber,
          request.body,
          request.headers['idempotency-key'] ?? null,
          request.ip,
        );
        if (replayed) reply.header('idempotent-replayed', 'true');
        reply.status(202);
        return payment;
      },
    );

    scope.get(
      '/api/v1/accounts/:accountNumber/payments',
      {
        schema: {
          tags: ['payments'],
          summary: "An account's payments, both directions, newest first",
          security: Security,
          params: AccountParams,
          querystring: Type.Object({
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
          }),
          response: {
            200: Type.Object({ data: Type.Array(PaymentSchema) }),
            ...errorResponses(400, 401, 404),
          },
        },
      },
      async (
        request: FastifyRequest<{
          Params: { accountNumber: string };
          Querystring: { limit: number };
        }>,
      ) => payments.list(principalOf(request), request.params.accountNumber, request.query.limit),
    );

    scope.get(
      '/api/v1/admin/reconciliation',
      {
        schema: {
          tags: ['payments'],
          summary:
            "A day's settled payments and returns in the ledger against the network's settlement report (staff and auditors)",
          security: Security,
          querystring: Type.Object({ date: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }) }),
          response: { 200: ReconciliationSchema, ...errorResponses(400, 401, 403, 503) },
        },
      },
      async (request: FastifyRequest<{ Querystring: { date: string } }>) => {
        if (!isReadingStaff(principalOf(request))) {
          throw new CorebankError('FORBIDDEN', 'reconciliation is for staff');
        }
        if (deps.client === null) {
          throw new CorebankError('SERVICE_UNAVAILABLE', 'no payment network is configured');
        }
        return reconcile(deps.db, deps.client, request.query.date);
      },
    );

    scope.get(
      '/api/v1/payments/:paymentId',
      {
        schema: {
          tags: ['payments'],
          summary: 'One payment, with its status history',
          security: Security,
          params: Type.Object({ paymentId: Type.String({ format: 'uuid' }) }),
          response: { 200: PaymentSchema, ...errorResponses(400, 401, 404) },
        },
      },
      async (request: FastifyRequest<{ Params: { paymentId: string } }>) =>
        payments.get(principalOf(request), request.params.paymentId),
    );
  });

  // The network's events: verified from the raw body (Standard Webhooks), so this route
  // keeps the body as text.
  app.register(async (scope) => {
    // This scope replaces the app's JSON parser (strict UTF-8, then JSON) with one that
    // keeps the text: the signature covers the exact bytes the network sent.
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) =>
      done(null, body),
    );
    scope.post(
      '/api/v1/network/events',
      {
        schema: { tags: ['payments'], summary: "The payment network's signed events", hide: false },
      },
      async (request: FastifyRequest<{ Body: string }>, reply) => {
        const verifier = deps.verifier;
        if (verifier === null) {
          reply.status(404);
          return {
            title: 'Not found',
            status: 404,
            code: 'NOT_FOUND',
            detail: 'no payment network',
          };
        }
        const body = typeof request.body === 'string' ? request.body : '';
        const verified = await verifier.verify(request.headers, body);
        if (!verified.ok) {
          request.log.warn({ reason: verified.reason }, 'network event refused');
          reply.status(401).type('application/problem+json');
          return {
            type: 'about:blank',
            title: 'Unauthenticated',
            status: 401,
            code: 'UNAUTHENTICATED',
            detail: `event refused: ${verified.reason}`,
          };
        }
        const event = JSON.parse(body) as NetworkEvent;
        try {
          const result = await applyEvent(payments, event);
          request.log.info({ type: event.type, result }, 'network event');
          if (typeof result === 'object') {
            // Sent back to the paying bank by answering the event (docs/decisions/0012).
            reply.status(200).type('application/json');
            return { action: 'return', reason: result.returnReason };
          }
          if (result === 'unsupported') {
            // Not applied: let the network deliver it again later.
            await forgetWebhookId(deps.db, verified.id);
            reply.status(503);
            return { status: 'not-applied' };
          }
          reply.status(200);
          return { status: result };
        } catch (error) {
          await forgetWebhookId(deps.db, verified.id);
          throw error;
        }
      },
    );
  });
}

/** Applies one event by the payment's state: a repeat or a late event changes nothing. */
async function applyEvent(
  payments: PaymentsService,
  event: NetworkEvent,
): Promise<'applied' | 'already' | 'unknown' | 'unsupported' | { returnReason: string }> {
  switch (event.type) {
    case 'payment.settled':
      return payments.settle(event.data.instructionId);
    case 'payment.rejected':
      return payments.release(
        event.data.instructionId,
        'rejected',
        event.data.rejectionReason ?? 'rejected by the network',
      );
    case 'payment.received':
      return payments.receive(event.data);
    case 'payment.returned':
      return payments.returned(event.data);
    default:
      return 'unsupported';
  }
}
