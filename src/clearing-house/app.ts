import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import {
  BANK_CODE_PATTERN,
  INSTRUCTION_ID_PATTERN,
  PAYMENTS_SCOPE,
  type PaymentInstruction,
} from '../payments/network-protocol.ts';
import type { ClearingHouseConfig, ClearingMember } from './config.ts';
import { DeliveryQueue } from './deliveries.ts';
import { FAIL_STATUSES, type FaultSettings, Faults } from './faults.ts';
import { ClearingHouse } from './network.ts';
import { openStore } from './store.ts';
import { secretMatches, TokenAuthority } from './tokens.ts';

const TICK_MS = 20;

const Party = Type.Object(
  {
    bankCode: Type.String({ pattern: BANK_CODE_PATTERN.source }),
    accountNumber: Type.String({ pattern: '^[A-Za-z0-9]{1,34}$' }),
    name: Type.String({ minLength: 1, maxLength: 140 }),
  },
  { additionalProperties: false },
);

const InstructionSchema = Type.Object(
  {
    instructionId: Type.String({ pattern: INSTRUCTION_ID_PATTERN.source }),
    amount: Type.String({ minLength: 1, maxLength: 40 }),
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
    debtor: Type.Object(
      {
        accountNumber: Type.String({ pattern: '^[A-Za-z0-9]{1,34}$' }),
        name: Type.String({ minLength: 1, maxLength: 140 }),
      },
      { additionalProperties: false },
    ),
    creditor: Party,
    reference: Type.Optional(Type.String({ maxLength: 140 })),
  },
  { additionalProperties: false },
);

const FaultsSchema = Type.Object(
  {
    latencyMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000 })),
    refuseNext: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
    refuseAll: Type.Optional(Type.Boolean()),
    failNext: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
    failStatus: Type.Optional(Type.Union(FAIL_STATUSES.map((status) => Type.Literal(status)))),
    endpoints: Type.Optional(
      Type.Union([Type.Literal('all'), Type.Literal('token'), Type.Literal('payments')]),
    ),
    rejectNext: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
    sandboxReturnNext: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
    duplicateDeliveries: Type.Optional(Type.Boolean()),
    outOfOrderDeliveries: Type.Optional(Type.Boolean()),
    reorderWindowMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 60_000 })),
    /** Not a standing fault: every token issued so far stops working at once. */
    expireTokens: Type.Optional(Type.Literal(true)),
    /** Lifetime of tokens issued from now on. */
    tokenTtlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  },
  { additionalProperties: false },
);

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  field?: string;
}

function problem(status: number, code: string, detail: string, field?: string): Problem {
  return {
    type: 'about:blank',
    title: code
      .toLowerCase()
      .split('_')
      .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
      .join(' '),
    status,
    detail,
    code,
    ...(field === undefined ? {} : { field }),
  };
}

function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  return reply.code(body.status).type('application/problem+json').send(body);
}

/** RFC 6749 §5.2 error answer of the token endpoint; never cached. */
function sendOAuthError(
  reply: FastifyReply,
  status: number,
  error: string,
  description: string,
): FastifyReply {
  if (status === 401) reply.header('www-authenticate', 'Basic realm="payment-network"');
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .send({ error, error_description: description });
}

/**
 * HTTP Basic client credentials (RFC 6749 §2.3.1): each part is form-urlencoded before the
 * base64, so it is decoded the same way. Undefined when the header is absent or malformed.
 */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(header.trim());
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const formDecode = (value: string) => decodeURIComponent(value.replaceAll('+', ' '));
  try {
    return {
      id: formDecode(decoded.slice(0, colon)),
      secret: formDecode(decoded.slice(colon + 1)),
    };
  } catch {
    return undefined;
  }
}

/** A calendar date `YYYY-MM-DD` that exists. */
function isDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const parsed = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().startsWith(value);
}

export interface ClearingHouseApp {
  app: FastifyInstance;
  network: ClearingHouse;
  start(): void;
  close(): Promise<void>;
}

/** Builds the clearing-house's HTTP server and workers; `start()` begins settling. */
export async function buildClearingHouse(config: ClearingHouseConfig): Promise<ClearingHouseApp> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: { paths: ['req.headers.authorization'], censor: '[redacted]' },
    },
    bodyLimit: 16_384,
    // Unknown fields are refused, never silently dropped, and nothing is coerced: a payment
    // instruction means exactly what it says or it is not taken.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  const db = openStore(config.databaseFile);
  const faults = new Faults();
  const tokens = await TokenAuthority.create(config.issuer, config.tokenTtlSeconds);
  const deliveries = new DeliveryQueue(db, config, faults, app.log);
  const network = new ClearingHouse(db, config, faults, (bankCode, type, payment) =>
    deliveries.enqueue(bankCode, type, payment),
  );
  // A receiving bank may answer `payment.received` by sending the payment back.
  deliveries.onAnswer = (bankCode, paymentId, answer) => {
    if (typeof answer !== 'object' || answer === null) return;
    const { action, reason } = answer as Record<string, unknown>;
    if (action !== 'return') return;
    const why = typeof reason === 'string' && reason !== '' ? reason.slice(0, 140) : 'returned';
    network.returnPayment(bankCode, paymentId, why);
  };
  const membersById = new Map(config.members.map((member) => [member.clientId, member]));
  const stats = {
    tokensIssued: 0,
    tokenRequestsRefused: 0,
    paymentsSubmitted: 0,
    paymentsReplayed: 0,
    unauthorizedCalls: 0,
    refusedConnections: 0,
    failedCalls: 0,
  };

  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      const params = new URLSearchParams(String(body));
      const fields: Record<string, string> = {};
      for (const [key, value] of params) {
        // RFC 6749 §3.2: request parameters must not be included more than once.
        if (key in fields) {
          done(Object.assign(new Error(`parameter ${key} given twice`), { statusCode: 400 }));
          return;
        }
        fields[key] = value;
      }
      done(null, fields);
    },
  );

  app.setErrorHandler(
    (error: Error & { validation?: unknown; statusCode?: number }, request, reply) => {
      const status = error.statusCode ?? 500;
      if (request.url.startsWith('/oauth/')) {
        return sendOAuthError(
          reply,
          400,
          'invalid_request',
          status < 500 ? error.message : 'error',
        );
      }
      if (error.validation !== undefined) {
        return sendProblem(reply, problem(400, 'VALIDATION_FAILED', error.message));
      }
      if (status < 500) return sendProblem(reply, problem(status, 'BAD_REQUEST', error.message));
      request.log.error({ err: error }, 'request failed');
      return sendProblem(reply, problem(500, 'INTERNAL', 'internal error'));
    },
  );
  app.setNotFoundHandler((_request, reply) =>
    sendProblem(reply, problem(404, 'NOT_FOUND', 'no such resource')),
  );

  // Faults apply to the token and payments endpoints only: control, metadata and health
  // always answer, so a test can always switch a fault off again.
  const faultEndpointOf = (url: string): 'token' | 'payments' | undefined =>
    url.startsWith('/oauth/') ? 'token' : url.startsWith('/v1/') ? 'payments' : undefined;

  app.addHook('onRequest', async (request, reply) => {
    const endpoint = faultEndpointOf(request.url);
    if (endpoint === undefined) return;
    if (faults.takeRefusal(endpoint)) {
      stats.refusedConnections += 1;
      reply.hijack();
      request.raw.socket.destroy();
      return;
    }
    const failStatus = faults.takeFailure(endpoint);
    if (failStatus === undefined) return;
    stats.failedCalls += 1;
    if (endpoint === 'token') {
      if (failStatus === 401) {
        return sendOAuthError(reply, 401, 'invalid_client', 'client authentication failed');
      }
      return sendOAuthError(reply, failStatus, 'temporarily_unavailable', 'try again later');
    }
    if (failStatus === 401) {
      reply.header('www-authenticate', 'Bearer realm="payment-network", error="invalid_token"');
      return sendProblem(reply, problem(401, 'UNAUTHENTICATED', 'access token not accepted'));
    }
    if (failStatus === 429 || failStatus === 503) reply.header('retry-after', '1');
    return sendProblem(reply, problem(failStatus, 'TEMPORARILY_UNAVAILABLE', 'try again later'));
  });
  app.addHook('onSend', async (request, _reply, payload) => {
    const latencyMs = faults.settings.latencyMs;
    if (latencyMs > 0 && faultEndpointOf(request.url) !== undefined) await sleep(latencyMs);
    return payload;
  });

  app.get('/health', async () => ({ status: 'ok' }));

  // RFC 8414 metadata, so a client can discover the token endpoint and what it supports.
  app.get('/.well-known/oauth-authorization-server', async (request) => {
    const base = `${request.protocol}://${request.host}`;
    return {
      issuer: config.issuer,
      token_endpoint: `${base}/oauth/token`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic'],
      scopes_supported: [PAYMENTS_SCOPE],
    };
  });
  app.get('/.well-known/jwks.json', async () => tokens.jwks());

  app.post('/oauth/token', async (request, reply) => {
    const fields = (request.body ?? {}) as Record<string, string>;
    if (!/^application\/x-www-form-urlencoded/i.test(request.headers['content-type'] ?? '')) {
      return sendOAuthError(reply, 400, 'invalid_request', 'the body must be form-urlencoded');
    }
    const credentials = basicCredentials(request.headers.authorization);
    if ('client_secret' in fields || 'client_assertion' in fields) {
      // Only client_secret_basic is offered; a secret in the body is refused rather than
      // silently accepted, so a misconfigured client learns at once.
      stats.tokenRequestsRefused += 1;
      return sendOAuthError(reply, 401, 'invalid_client', 'use HTTP Basic client authentication');
    }
    const member: ClearingMember | undefined =
      credentials === undefined ? undefined : membersById.get(credentials.id);
    if (credentials === undefined || !secretMatches(credentials.secret, member?.clientSecret)) {
      stats.tokenRequestsRefused += 1;
      return sendOAuthError(reply, 401, 'invalid_client', 'client authentication failed');
    }
    if (member === undefined) throw new Error('unreachable: matched secret without member');
    if (fields.grant_type === undefined) {
      return sendOAuthError(reply, 400, 'invalid_request', 'grant_type is required');
    }
    if (fields.grant_type !== 'client_credentials') {
      return sendOAuthError(reply, 400, 'unsupported_grant_type', 'only client_credentials');
    }
    const requested = (fields.scope ?? PAYMENTS_SCOPE).split(' ').filter((s) => s !== '');
    if (requested.length === 0 || requested.some((scope) => scope !== PAYMENTS_SCOPE)) {
      stats.tokenRequestsRefused += 1;
      return sendOAuthError(reply, 400, 'invalid_scope', `the only scope is ${PAYMENTS_SCOPE}`);
    }
    const issued = await tokens.issue(member);
    stats.tokensIssued += 1;
    return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send({
      access_token: issued.accessToken,
      token_type: 'Bearer',
      expires_in: issued.expiresInSeconds,
      scope: PAYMENTS_SCOPE,
    });
  });

  /** The calling bank, from a valid bearer token with the payments scope (RFC 6750). */
  const bankOf = async (request: FastifyRequest, reply: FastifyReply) => {
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(request.headers.authorization ?? '');
    const claims = match?.[1] === undefined ? undefined : await tokens.verify(match[1]);
    if (claims === undefined) {
      stats.unauthorizedCalls += 1;
      reply.header(
        'www-authenticate',
        match === null
          ? 'Bearer realm="payment-network"'
          : 'Bearer realm="payment-network", error="invalid_token"',
      );
      sendProblem(reply, problem(401, 'UNAUTHENTICATED', 'a valid access token is required'));
      return undefined;
    }
    if (!claims.scopes.includes(PAYMENTS_SCOPE)) {
      reply.header(
        'www-authenticate',
        `Bearer realm="payment-network", error="insufficient_scope", scope="${PAYMENTS_SCOPE}"`,
      );
      sendProblem(reply, problem(403, 'FORBIDDEN', `the ${PAYMENTS_SCOPE} scope is required`));
      return undefined;
    }
    return claims.bankCode;
  };

  const submit = (reply: FastifyReply, bankCode: string, instruction: PaymentInstruction) => {
    const amountProblem = network.amountProblem(instruction);
    if (amountProblem !== undefined) {
      return sendProblem(reply, problem(400, 'VALIDATION_FAILED', amountProblem, 'amount'));
    }
    const result = network.submit(bankCode, instruction);
    if (result.kind === 'conflict') {
      return sendProblem(
        reply,
        problem(409, 'INSTRUCTION_ID_REUSED', 'this instructionId was used with another body'),
      );
    }
    if (result.kind === 'same_bank') {
      return sendProblem(
        reply,
        problem(422, 'SAME_BANK', 'the creditor is at the sending bank', 'creditor.bankCode'),
      );
    }
    if (result.replayed) {
      stats.paymentsReplayed += 1;
      reply.header('idempotent-replayed', 'true');
    } else stats.paymentsSubmitted += 1;
    return reply.code(result.status).send(result.body);
  };

  app.post('/v1/payments', { schema: { body: InstructionSchema } }, async (request, reply) => {
    const bankCode = await bankOf(request, reply);
    if (bankCode === undefined) return reply;
    return submit(reply, bankCode, request.body as PaymentInstruction);
  });

  app.get<{ Params: { id: string } }>('/v1/payments/:id', async (request, reply) => {
    const bankCode = await bankOf(request, reply);
    if (bankCode === undefined) return reply;
    const payment = network.find(bankCode, request.params.id);
    if (payment === undefined) {
      return sendProblem(reply, problem(404, 'NOT_FOUND', 'no such payment'));
    }
    return payment;
  });

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/v1/payments/:id/return',
    {
      schema: {
        body: Type.Object(
          { reason: Type.String({ minLength: 1, maxLength: 140 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const bankCode = await bankOf(request, reply);
      if (bankCode === undefined) return reply;
      const result = network.returnPayment(bankCode, request.params.id, request.body.reason);
      if (result.kind === 'not_found') {
        return sendProblem(reply, problem(404, 'NOT_FOUND', 'no such payment to this bank'));
      }
      if (result.kind === 'not_returnable') {
        return sendProblem(
          reply,
          problem(409, 'PAYMENT_NOT_SETTLED', `a payment ${result.status} cannot be returned`),
        );
      }
      return result.payment;
    },
  );

  app.get<{ Querystring: { date?: string } }>('/v1/settlements', async (request, reply) => {
    const bankCode = await bankOf(request, reply);
    if (bankCode === undefined) return reply;
    const date = request.query.date ?? '';
    if (!isDate(date)) {
      return sendProblem(
        reply,
        problem(400, 'VALIDATION_FAILED', 'date must be YYYY-MM-DD', 'date'),
      );
    }
    return network.settlementReport(bankCode, date);
  });

  if (config.controlToken !== undefined) {
    const controlDigest = crypto.createHash('sha256').update(config.controlToken).digest();
    app.register(async (control) => {
      control.addHook('onRequest', async (request, reply) => {
        const match = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '');
        const presented = crypto
          .createHash('sha256')
          .update(match?.[1] ?? '')
          .digest();
        if (!crypto.timingSafeEqual(presented, controlDigest)) {
          reply.header('www-authenticate', 'Bearer realm="clearing-house-control"');
          return sendProblem(reply, problem(401, 'UNAUTHENTICATED', 'control token required'));
        }
      });
      control.get('/control/faults', async () => faults.settings);
      control.post('/control/faults', { schema: { body: FaultsSchema } }, async (request) => {
        const { expireTokens, tokenTtlSeconds, ...patch } =
          request.body as Partial<FaultSettings> & {
            expireTokens?: true;
            tokenTtlSeconds?: number;
          };
        if (tokenTtlSeconds !== undefined) tokens.ttlSeconds = tokenTtlSeconds;
        if (expireTokens === true) await tokens.rotate();
        request.log.info({ patch, expireTokens, tokenTtlSeconds }, 'faults changed');
        return { ...faults.update(patch), tokenTtlSeconds: tokens.ttlSeconds };
      });
      control.delete('/control/faults', async () => {
        tokens.ttlSeconds = config.tokenTtlSeconds;
        return { ...faults.reset(), tokenTtlSeconds: tokens.ttlSeconds };
      });
      control.get<{ Querystring: { bankCode?: string } }>(
        '/control/deliveries',
        async (request) => ({
          data: deliveries.attempts(request.query.bankCode),
          pending: deliveries.pendingCount(),
        }),
      );
      control.get('/control/stats', async () => ({ ...stats, ...network.counts() }));
      // The sandbox bank pays a member: how a member tests its inbound payments.
      control.post(
        '/control/sandbox/payments',
        {
          schema: {
            body: Type.Object(
              {
                instructionId: Type.Optional(
                  Type.String({ pattern: INSTRUCTION_ID_PATTERN.source }),
                ),
                amount: Type.String({ minLength: 1, maxLength: 40 }),
                currency: Type.String({ pattern: '^[A-Z]{3}$' }),
                creditor: Party,
                reference: Type.Optional(Type.String({ maxLength: 140 })),
              },
              { additionalProperties: false },
            ),
          },
        },
        async (request, reply) => {
          if (config.sandboxBankCode === undefined) {
            return sendProblem(reply, problem(404, 'NOT_FOUND', 'the sandbox bank is off'));
          }
          const body = request.body as Omit<PaymentInstruction, 'debtor' | 'instructionId'> & {
            instructionId?: string;
          };
          return submit(reply, config.sandboxBankCode, {
            ...body,
            instructionId: body.instructionId ?? crypto.randomUUID(),
            debtor: { accountNumber: 'SANDBOX0001', name: 'Sandbox Bank Customer' },
          });
        },
      );
    });
  }

  let timer: NodeJS.Timeout | undefined;
  return {
    app,
    network,
    start() {
      timer = setInterval(() => {
        try {
          network.settleDue();
          deliveries.sendDue();
        } catch (error) {
          app.log.error({ err: error }, 'settlement tick failed');
        }
      }, TICK_MS);
    },
    async close() {
      if (timer !== undefined) clearInterval(timer);
      await app.close();
      db.close();
    },
  };
}
