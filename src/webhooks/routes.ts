import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { TOTP_PATTERN } from '../auth/mfa/crypto.ts';
import type { TokenService } from '../auth/tokens.ts';
import { EVENT_TYPES } from '../events/outbox.ts';
import { authenticate, principalOf } from '../http/auth-guard.ts';
import { errorResponses, Security } from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import type { WebhooksService } from './webhooks-service.ts';

const EndpointSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    url: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    eventTypes: Type.Array(Type.Enum([...EVENT_TYPES]), { description: 'empty: every type' }),
    status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]),
    disabledReason: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { title: 'WebhookEndpoint' },
);

const CreatedEndpointSchema = Type.Object(
  {
    ...EndpointSchema.properties,
    secret: Type.String({ description: 'Standard Webhooks signing secret (whsec_…), shown once' }),
  },
  { title: 'CreatedWebhookEndpoint' },
);

const DeliverySchema = Type.Object(
  {
    eventId: Type.String(),
    attempt: Type.Integer(),
    status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
    responseStatus: Type.Union([Type.Integer(), Type.Null()]),
    error: Type.Union([Type.String(), Type.Null()]),
    durationMs: Type.Integer(),
    at: Type.String({ format: 'date-time' }),
  },
  { title: 'WebhookDelivery' },
);

const Otp = Type.Optional(Type.String({ pattern: TOTP_PATTERN, description: 'current TOTP code' }));
const IdParam = Type.Object({ id: Type.String({ format: 'uuid' }) });

/** Admin-managed webhook endpoints and their delivery log. */
export function registerWebhookRoutes(
  app: App,
  deps: { webhooks: WebhooksService; tokens: TokenService },
): void {
  const { webhooks } = deps;
  const authenticated = authenticate(deps.tokens);
  // Authentication and the role check come before the body is parsed or validated.
  const guard = (permission: 'read' | 'act') => async (request: FastifyRequest) => {
    await authenticated(request);
    webhooks.authorize(principalOf(request), permission);
  };

  app.post(
    '/api/v1/admin/webhook-endpoints',
    {
      onRequest: guard('act'),
      schema: {
        tags: ['admin'],
        summary: 'Add a webhook endpoint; the signing secret is in this answer only (admins)',
        security: Security,
        body: Type.Object(
          {
            url: Type.String({ minLength: 1, maxLength: 2000 }),
            eventTypes: Type.Optional(
              Type.Array(Type.Enum([...EVENT_TYPES]), { maxItems: EVENT_TYPES.length }),
            ),
            description: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 200,
                pattern: '^[^\\u0000-\\u001f\\u007f]+$',
              }),
            ),
            otp: Otp,
          },
          { additionalProperties: false },
        ),
        response: { 201: CreatedEndpointSchema, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const created = await webhooks.create(
        principalOf(request),
        {
          url: request.body.url,
          eventTypes: request.body.eventTypes ?? [],
          description: request.body.description ?? null,
          otp: request.body.otp,
        },
        request.ip,
      );
      reply.status(201);
      return created;
    },
  );

  app.get(
    '/api/v1/admin/webhook-endpoints',
    {
      onRequest: guard('read'),
      schema: {
        tags: ['admin'],
        summary: 'Webhook endpoints, newest first (admins and auditors)',
        security: Security,
        response: {
          200: Type.Object({
            data: Type.Array(EndpointSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses(401, 403),
        },
      },
    },
    async (request) => webhooks.list(principalOf(request)),
  );

  app.delete(
    '/api/v1/admin/webhook-endpoints/:id',
    {
      onRequest: guard('act'),
      schema: {
        tags: ['admin'],
        summary: 'Remove a webhook endpoint: nothing more is sent to it (admins)',
        security: Security,
        params: IdParam,
        querystring: Type.Object({ otp: Otp }),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await webhooks.remove(principalOf(request), request.params.id, request.query.otp, request.ip);
      reply.status(204);
      return null;
    },
  );

  app.get(
    '/api/v1/admin/webhook-endpoints/:id/deliveries',
    {
      onRequest: guard('read'),
      schema: {
        tags: ['admin'],
        summary: 'Delivery attempts of an endpoint, newest first (admins and auditors)',
        security: Security,
        params: IdParam,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
          cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        }),
        response: {
          200: Type.Object({
            data: Type.Array(DeliverySchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => webhooks.deliveries(principalOf(request), request.params.id, request.query),
  );
}
