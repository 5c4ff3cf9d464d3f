import crypto from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { Type } from 'typebox';
import { AccountsService } from './accounts/accounts-service.ts';
import { registerAccountRoutes } from './accounts/routes.ts';
import { AdminService } from './admin/admin-service.ts';
import { registerAdminRoutes } from './admin/routes.ts';
import {
  openAuthInfrastructure,
  registerSessionAndPasswordRoutes,
} from './auth/auth-infrastructure.ts';
import { AuthService } from './auth/auth-service.ts';
import { bindMfaKeys, MfaService } from './auth/mfa.ts';
import { registerMfaRoutes } from './auth/mfa-routes.ts';
import { registerRefreshCookie } from './auth/refresh-cookie.ts';
import { registerAuthRoutes } from './auth/routes.ts';
import type { Secrets } from './auth/secrets.ts';
import { TokenService } from './auth/tokens.ts';
import type { Config } from './config.ts';
import { ControlsService } from './controls/controls-service.ts';
import { limitsConfigOf, thresholdsOf } from './controls/limits.ts';
import { registerControlsRoutes } from './controls/routes.ts';
import { type DatabaseHandle, ping } from './db/database.ts';
import { CorebankError } from './errors.ts';
import { answerFrameworkError, registerErrorHandling } from './http/errors.ts';
import { registerMetrics } from './http/metrics.ts';
import { ProblemSchema } from './http/problem.ts';
import { registerRateLimits } from './http/rate-limits.ts';
import { errorResponses } from './http/schemas.ts';
import { CSP_HEADER, registerSecurityHeaders } from './http/security-headers.ts';
import { httpsOptionsOf, trustProxyOf } from './http/transport.ts';
import type { App } from './http/types.ts';
import { createValidatorCompiler } from './http/validation.ts';
import { registerWebDashboard } from './http/web-dashboard.ts';
import { batcherOptionsOf, CommandBatcher } from './ledger/batcher.ts';
import { LedgerEngine } from './ledger/engine.ts';
import { MoneyService } from './ledger/money-service.ts';
import { registerMoneyRoutes } from './ledger/routes.ts';
import { registerCurrencyRoutes } from './money/routes.ts';
import { registerStatementsAndStandingOrders } from './statements/register.ts';

export interface AppDeps {
  config: Config;
  database: DatabaseHandle;
  secrets: Secrets;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Builds the HTTP application from its parts. Tests build it too (and drive it with
 * `inject`), so nothing here listens on a port or reads the environment.
 */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, database, secrets } = deps;
  const https = httpsOptionsOf(config);
  const app: App = Fastify({
    logger: {
      level: config.logLevel,
      // Credentials never reach the logs, whatever a future log line includes.
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          '*.password',
          '*.currentPassword',
          '*.newPassword',
          '*.pin',
          '*.refreshToken',
          '*.accessToken',
          '*.token',
          '*.otp',
          '*.code',
        ],
        censor: '[redacted]',
      },
    },
    bodyLimit: config.bodyLimitBytes,
    // A caller's request id is kept when it looks like one, so logs can be joined across
    // services; anything else is replaced rather than written into our logs.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    },
    requestIdHeader: false,
    ajv: { customOptions: { coerceTypes: false } },
    return503OnClosing: true,
    frameworkErrors: answerFrameworkError,
    // Which hops may set X-Forwarded-For (none unless TRUST_PROXY names them), so
    // request.ip is the client's address for rate limits and the audit trail.
    trustProxy: trustProxyOf(config),
    // HTTPS when TLS_CERT_FILE and TLS_KEY_FILE are set; plain HTTP behind a proxy otherwise.
    // Typed as the HTTP app either way: the routes and hooks cannot tell the difference.
    ...(https === undefined ? {} : ({ https } as object)),
  }).withTypeProvider<TypeBoxTypeProvider>();

  // The API speaks JSON only; Fastify's default text/plain parser would hand a string to
  // the schema and turn a wrong content type into a confusing validation error.
  app.removeContentTypeParser('text/plain');

  app.setValidatorCompiler(createValidatorCompiler());
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  registerErrorHandling(app);
  app.addSchema(ProblemSchema);
  await registerSecurityHeaders(app, config);
  await registerRateLimits(app, config);
  await registerRefreshCookie(app, config);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Corebank API',
        version: '1.0.0',
        description:
          'Accounts, money movement and a double-entry ledger. Errors are RFC 9457 problem documents.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, index) =>
        typeof json.$id === 'string' ? json.$id : `def-${index}`,
    },
  });
  // The docs page gets the same strict policy as everything else (no inline code).
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: CSP_HEADER });

  const authInfrastructure = await openAuthInfrastructure(app, config, database);
  const tokens = new TokenService(
    secrets,
    {
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    },
    authInfrastructure.gate,
  );
  const auth = new AuthService({
    db: database.db,
    secrets,
    tokens,
    refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
    engine: database.engine,
    backoff: authInfrastructure.backoff,
  });
  const engine = new LedgerEngine({
    engine: database.engine,
    pinPepper: secrets.pinPepper,
    pinMaxAttempts: config.pinMaxAttempts,
    limits: limitsConfigOf(config.controls),
  });
  const batcher = new CommandBatcher(
    database.db,
    engine,
    batcherOptionsOf(config, database.engine),
  );
  // TOTP secrets and recovery codes are protected by keys derived from the PIN pepper.
  bindMfaKeys(database.db, secrets.pinPepper);
  const mfa = new MfaService({ db: database.db, engine: database.engine });
  const accounts = new AccountsService(database.db);
  // Controls (issue #13): daily limits (in the engine above), approvals and reversals.
  const controls = new ControlsService({
    db: database.db,
    engine: database.engine,
    ledger: engine,
    limits: limitsConfigOf(config.controls),
  });
  const money = new MoneyService({
    db: database.db,
    batcher,
    maxAmountMajor: config.maxAmountMajor,
    largeDeposits: {
      thresholds: thresholdsOf(config.controls.dualControlThreshold),
      request: (command) => controls.requestLargeDeposit(command),
    },
  });

  registerMetrics(app, batcher);
  registerAuthRoutes(app, auth, tokens);
  registerSessionAndPasswordRoutes(app, authInfrastructure, tokens, config, database);
  registerMfaRoutes(app, mfa, tokens);
  registerAccountRoutes(app, { accounts, tokens });
  registerMoneyRoutes(app, { money, tokens });
  registerControlsRoutes(app, { controls, tokens });
  registerCurrencyRoutes(app);
  registerAdminRoutes(app, {
    admin: new AdminService({
      db: database.db,
      engine: database.engine,
      maxAmountMajor: config.maxAmountMajor,
    }),
    tokens,
  });

  // Statements, balances in time and standing orders (with their scheduler).
  registerStatementsAndStandingOrders(app, { config, database, secrets, batcher, tokens });

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get(
    '/health/live',
    {
      schema: {
        tags: ['operations'],
        summary: 'The process is up',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/health/ready',
    {
      schema: {
        tags: ['operations'],
        summary: 'The database answers',
        response: {
          200: Type.Object({ status: Type.Literal('ok'), database: Type.String() }),
          ...errorResponses(503),
        },
      },
    },
    async (request) => {
      try {
        await ping(database.db);
      } catch (error) {
        request.log.error({ err: error }, 'readiness check failed');
        throw new CorebankError('SERVICE_UNAVAILABLE', 'database is not reachable');
      }
      return { status: 'ok' as const, database: database.engine };
    },
  );

  // Last, so its page fallback never shadows a route above.
  await registerWebDashboard(app);

  return app;
}
