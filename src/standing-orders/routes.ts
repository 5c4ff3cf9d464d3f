import { Type } from 'typebox';
import type { TokenService } from '../auth/tokens.ts';
import { authenticate, principalOf } from '../http/auth-guard.ts';
import {
  AccountNumberParam,
  Amount,
  Description,
  errorResponses,
  PageQuery,
  Pin,
  Security,
} from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import { BeneficiarySchema } from '../payments/routes.ts';
import type { StandingOrdersService } from './standing-orders-service.ts';

const DateString = Type.String({
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$',
  description: 'Calendar date YYYY-MM-DD (UTC)',
});

const OrderId = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
});

const Frequency = Type.Union([
  Type.Literal('daily'),
  Type.Literal('weekly'),
  Type.Literal('monthly'),
]);

const StandingOrderSchema = Type.Object(
  {
    id: Type.String(),
    accountNumber: Type.String(),
    toAccount: Type.Union([Type.String(), Type.Null()]),
    beneficiary: Type.Union([BeneficiarySchema, Type.Null()]),
    amount: Type.String(),
    currency: Type.String(),
    frequency: Frequency,
    startDate: Type.String(),
    endDate: Type.Union([Type.String(), Type.Null()]),
    description: Type.Union([Type.String(), Type.Null()]),
    status: Type.Union([
      Type.Literal('active'),
      Type.Literal('cancelled'),
      Type.Literal('stopped'),
      Type.Literal('completed'),
    ]),
    stopReason: Type.Union([Type.String(), Type.Null()]),
    nextDueDate: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { title: 'StandingOrder' },
);

const RunSchema = Type.Object(
  {
    dueDate: Type.String(),
    attempt: Type.Integer({ minimum: 1, maximum: 2 }),
    status: Type.Union([Type.Literal('done'), Type.Literal('failed')]),
    transactionId: Type.Optional(Type.String()),
    paymentId: Type.Optional(Type.String()),
    paymentStatus: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String()),
    detail: Type.Optional(Type.String()),
    ranAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { title: 'StandingOrderRun' },
);

export function registerStandingOrderRoutes(
  app: App,
  services: { standingOrders: StandingOrdersService; tokens: TokenService },
): void {
  const { standingOrders } = services;
  const guard = authenticate(services.tokens);

  app.post(
    '/api/v1/accounts/:accountNumber/standing-orders',
    {
      onRequest: guard,
      schema: {
        tags: ['standing orders'],
        summary: 'Create a standing order (confirm with your PIN)',
        description:
          "Pays `toAccount` (an account of this bank) or `beneficiary` (someone at another bank; exactly one of the two) daily, weekly or monthly from `startDate`. Monthly orders on the 29th to 31st run on the last day of shorter months. Each due date runs once: a transfer, or an outbound payment (held, then submitted to the network) whose id and current status the run shows. A run refused for lack of funds is retried once the next day. Another customer's `toAccount` in another currency answers 400 DESTINATION_REFUSED (its owner and reading staff: CURRENCY_MISMATCH).",
        security: Security,
        params: Type.Object({ accountNumber: AccountNumberParam }),
        body: Type.Object(
          {
            toAccount: Type.Optional(Type.String({ maxLength: 64 })),
            beneficiary: Type.Optional(BeneficiarySchema),
            amount: Amount,
            frequency: Frequency,
            startDate: DateString,
            endDate: Type.Optional(DateString),
            pin: Pin,
            description: Type.Optional(Description),
          },
          { additionalProperties: false },
        ),
        response: {
          201: StandingOrderSchema,
          ...errorResponses(400, 401, 403, 404, 409, 422, 423),
        },
      },
    },
    async (request, reply) => {
      const order = await standingOrders.create(
        principalOf(request),
        request.params.accountNumber,
        request.body,
      );
      return reply.status(201).send(order);
    },
  );

  app.get(
    '/api/v1/accounts/:accountNumber/standing-orders',
    {
      onRequest: guard,
      schema: {
        tags: ['standing orders'],
        summary: "An account's standing orders, newest first (at most 100)",
        security: Security,
        params: Type.Object({ accountNumber: AccountNumberParam }),
        response: {
          200: Type.Object({ data: Type.Array(StandingOrderSchema) }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => standingOrders.list(principalOf(request), request.params.accountNumber),
  );

  app.delete(
    '/api/v1/standing-orders/:id',
    {
      onRequest: guard,
      schema: {
        tags: ['standing orders'],
        summary: 'Cancel a standing order (no due date runs after this)',
        security: Security,
        params: Type.Object({ id: OrderId }),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await standingOrders.cancel(principalOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/standing-orders/:id/runs',
    {
      onRequest: guard,
      schema: {
        tags: ['standing orders'],
        summary: "A standing order's runs, newest due date first",
        security: Security,
        params: Type.Object({ id: OrderId }),
        querystring: PageQuery,
        response: {
          200: Type.Object({
            data: Type.Array(RunSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) =>
      standingOrders.runs(principalOf(request), request.params.id, {
        limit: request.query.limit,
        cursor: request.query.cursor ?? null,
      }),
  );
}
