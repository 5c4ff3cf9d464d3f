import type { Secrets } from '../auth/secrets.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { Config } from '../config.ts';
import type { DatabaseHandle } from '../db/database.ts';
import type { App } from '../http/types.ts';
import type { CommandBatcher } from '../ledger/batcher.ts';
import type { PaymentsService } from '../payments/payments-service.ts';
import { registerStandingOrderRoutes } from '../standing-orders/routes.ts';
import { StandingOrderScheduler } from '../standing-orders/scheduler.ts';
import { StandingOrdersService } from '../standing-orders/standing-orders-service.ts';
import { registerStatementRoutes } from './routes.ts';
import { StatementsService } from './statements-service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The standing-order scheduler (tests call `runDue` with their own clock). */
    standingOrderScheduler: StandingOrderScheduler;
  }
}

/**
 * Statements, balances in time and standing orders, as one part of the app: their
 * services, routes and the standing-order scheduler, which starts when the app is ready
 * (unless STANDING_ORDERS_SCHEDULER=off) and stops when it closes.
 */
export function registerStatementsAndStandingOrders(
  app: App,
  deps: {
    config: Config;
    database: DatabaseHandle;
    secrets: Secrets;
    batcher: CommandBatcher;
    tokens: TokenService;
    payments: PaymentsService;
    clock?: () => Date;
  },
): void {
  const { config, database, tokens } = deps;
  const clock = deps.clock ?? (() => new Date());
  // Statements and balances in time read the replica when there is one (DATABASE_READ_URL).
  const statements = new StatementsService({
    db: database.readDb,
    engine: database.engine,
    timeZone: config.statementTimeZone,
  });
  registerStatementRoutes(app, { statements, tokens });

  const standingOrders = new StandingOrdersService({
    db: database.db,
    engine: database.engine,
    pinPepper: deps.secrets.pinPepper,
    pinMaxAttempts: config.pinMaxAttempts,
    maxAmountMajor: config.maxAmountMajor,
    clock,
    bankCode: config.bankCode,
  });
  registerStandingOrderRoutes(app, { standingOrders, tokens });
  const scheduler = new StandingOrderScheduler({
    db: database.db,
    engine: database.engine,
    batcher: deps.batcher,
    payments: deps.payments,
    clock,
    options: config.standingOrders,
    log: app.log.child({ component: 'standing-orders' }),
  });
  app.decorate('standingOrderScheduler', scheduler);
  if (config.standingOrders.schedulerEnabled) {
    app.addHook('onReady', async () => scheduler.start());
  }
  app.addHook('onClose', async () => scheduler.stop());
}
