import crypto from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController } from 'fastify';
import { Type } from 'typebox';
import { AccountsService } from './accounts/accounts-service.ts';
import { registerAccountRoutes } from './accounts/routes.ts';
import type { StaffStepUp } from './admin/access.ts';
import { registerAdminRoutes } from './admin/routes.ts';
import { StaffActions } from './admin/staff-actions.ts';
import { StaffReads } from './admin/staff-reads.ts';
import {
  buildAuthServices,
  openAuthInfrastructure,
  registerAuthApi,
} from './auth/auth-infrastructure.ts';
import type { Secrets } from './auth/secrets.ts';
import { registerRefreshCookie } from './auth/sessions/refresh-cookie.ts';
import type { Config } from './config.ts';
import { ControlsService } from './controls/controls-service.ts';
import { limitsConfigOf, thresholdsOf } from './controls/limits.ts';
import { registerControlsRoutes } from './controls/routes.ts';
import type { DatabaseHandle } from './db/database.ts';
import { registerEvents } from './events/register.ts';
import { registerHolds } from './holds/register.ts';
import { answerFrameworkError, registerErrorHandling } from './http/errors.ts';
import { registerInputHardening, registerNoStore, serializeRequest } from './http/hardening.ts';
import { redactLogFields } from './http/log-redaction.ts';
import { registerMetrics } from './http/metrics.ts';
import { ProblemSchema } from './http/problem.ts';
import { registerRateLimits } from './http/rate-limits.ts';
import { CSP_HEADER, registerSecurityHeaders } from './http/security-headers.ts';
import { httpsOptionsOf, trustProxyOf } from './http/transport.ts';
import type { App } from './http/types.ts';
import { createValidatorCompiler } from './http/validation.ts';
import { registerWebDashboard } from './http/web-dashboard.ts';
import { type BatcherOptions, batcherOptionsOf, CommandBatcher } from './ledger/batcher.ts';
import { LedgerEngine, type LedgerEngineDeps } from './ledger/engine.ts';
import { MoneyService } from './ledger/money-service.ts';
import { registerMoneyRoutes } from './ledger/routes.ts';
import { registerCurrencyRoutes } from './money/routes.ts';
import { registerAccountHolderRoutes } from './payees/account-holder-routes.ts';
import { registerPayments } from './payments/register.ts';
import { reliabilityOf } from './reliability/context.ts';
import { dependencyMetrics } from './reliability/dependencies.ts';
import { registerEntryAdmission, wasShed } from './reliability/entry-admission.ts';
import { registerReadiness } from './reliability/readiness.ts';
import { registerStaffCustomerRoutes } from './staff/customers-routes.ts';
import { registerStatementsAndStandingOrders } from './statements/register.ts';

export interface AppDeps {
  config: Config;
  database: DatabaseHandle;
  secrets: Secrets;
  /**
   * Another way to apply the money commands' batches, for the benchmark's trials only
   * (bench/trials/worker-server.ts). Unset, as in the server and every test: the batcher
   * applies them in transactions on `database.db`, on this thread.
   */
  ledgerBatcher?: (
    engine: LedgerEngineDeps,
    options: BatcherOptions,
  ) => Promise<{ batcher: CommandBatcher; close: () => Promise<void> }>;
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
      // Credentials never reach the logs, whatever a future log line includes: the same
      // rule as pino's redact paths, without its per-line cloning (src/http/log-redaction.ts).
      formatters: { log: redactLogFields },
      // Query strings can carry tokens (`?access_token=`): their values never reach a log.
      serializers: { req: serializeRequest },
    },
    // A request shed at the door (overload) gets no "request completed" line: under
    // overload one per refusal would cost the time shedding saves (they are counted and
    // summarised instead, src/reliability/entry-admission.ts).
    logController: new LogController({ disableRequestLogging: wasShed }),
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
  // First of all hooks: under overload a request is refused before any work is done for it.
  const admissionMetrics = registerEntryAdmission(app, config);
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  registerErrorHandling(app);
  app.addSchema(ProblemSchema);
  await registerSecurityHeaders(app, config);
  await registerRateLimits(app, config);
  await registerRefreshCookie(app, config);
  registerInputHardening(app, config);
  registerNoStore(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Corebank API',
        version: '1.0.0',
        description:
          'Accounts, money movement and a double-entry ledger. Errors are RFC 9457 problem ' +
          'documents. Staff (teller, admin, auditor) must turn on two-factor authentication ' +
          '(POST /api/v1/me/mfa/enrol, then /me/mfa/confirm) before any staff action: until ' +
          'then every route except their own sign-in routes (/me, /me/pin, /me/mfa/*, ' +
          '/me/password, /me/sessions/end-all, refresh, logout) answers 403 ' +
          'MFA_ENROLMENT_REQUIRED.',
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
  // The docs page gets the same strict policy as everything else (no inline code). It and
  // the OpenAPI document are public outside production, and in production only when
  // DOCS_PUBLIC=on: they map every route for an attacker.
  if (config.security.docsPublic) {
    await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: CSP_HEADER });
  }

  const authInfrastructure = await openAuthInfrastructure(app, config, database);
  const authServices = buildAuthServices(authInfrastructure, config, database, secrets);
  const { tokens } = authServices;
  const engineDeps: LedgerEngineDeps = {
    engine: database.engine,
    pinPepper: secrets.pinPepper,
    pinMaxAttempts: config.pinMaxAttempts,
    limits: limitsConfigOf(config.controls),
  };
  const engine = new LedgerEngine(engineDeps);
  let batcher: CommandBatcher;
  if (deps.ledgerBatcher === undefined) {
    batcher = new CommandBatcher(database.db, engine, batcherOptionsOf(config));
  } else {
    const trial = await deps.ledgerBatcher(engineDeps, batcherOptionsOf(config));
    app.addHook('onClose', trial.close);
    batcher = trial.batcher;
  }
  const accounts = new AccountsService(database.db, database.readDb);
  const staffActions = new StaffActions({
    db: database.db,
    engine: database.engine,
    mfa: authServices.mfa,
    guard: authServices.guard,
  });
  const stepUp: StaffStepUp = (principal, action, target, otp, ip) =>
    staffActions.assertStepUp(principal, action, target ?? '', { otp, ip, reason: null });
  // Controls (issue #13): daily limits (in the engine above), approvals and reversals.
  const controls = new ControlsService({
    db: database.db,
    engine: database.engine,
    ledger: engine,
    limits: limitsConfigOf(config.controls),
    stepUp,
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

  // Events for other systems: outbox pull API, webhooks, NATS publisher (src/events/).
  const eventMetrics = registerEvents(app, {
    config,
    database,
    secrets,
    tokens,
    batcher,
    stepUp,
  });

  registerMetrics(
    app,
    batcher,
    config,
    eventMetrics,
    admissionMetrics,
    dependencyMetrics(reliabilityOf(app).monitor),
  );
  registerAuthApi(app, authServices);
  registerAccountRoutes(app, { accounts, tokens });
  registerMoneyRoutes(app, { money, tokens });
  registerControlsRoutes(app, { controls, tokens });
  registerCurrencyRoutes(app);
  registerAdminRoutes(app, {
    // Staff reads accept a replica's lag (DATABASE_READ_URL); their actions never use it.
    reads: new StaffReads({ db: database.readDb, maxAmountMajor: config.maxAmountMajor }),
    actions: staffActions,
    tokens,
  });
  // The dashboard's cash desk and payee check (issue 16): reads only, over the existing tables.
  registerStaffCustomerRoutes(app, { db: database.db, tokens });
  registerAccountHolderRoutes(app, { db: database.db, tokens, config });

  // Holds (two-phase movements) and their sweeper of expired holds.
  registerHolds(app, { config, database, batcher, tokens });
  // Payments to other banks: routes, the network's events, the outbound dispatcher.
  const payments = registerPayments(app, { config, database, batcher, tokens });

  // Statements, balances in time and standing orders (with their scheduler, which pays
  // other banks through the payments service).
  registerStatementsAndStandingOrders(app, {
    config,
    database,
    secrets,
    batcher,
    tokens,
    payments,
  });

  if (config.security.docsPublic) {
    app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  }
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
  registerReadiness(app, database);

  // Last, so its page fallback never shadows a route above.
  await registerWebDashboard(app);

  return app;
}
