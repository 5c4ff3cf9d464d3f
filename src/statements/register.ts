import type { Secrets } from '../auth/secrets.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { Config } from '../config.ts';
import type { DatabaseHandle } from '../db/database.ts';
import type { App } from '../http/types.ts';
import type { CommandBatcher } from '../ledger/batcher.ts';
import { registerStatementRoutes } from './routes.ts';
import { StatementsService } from './statements-service.ts';

/**
 * Statements, balances in time and standing orders, as one part of the app: their
 * services, routes and the standing-order scheduler, which starts with the app and stops
 * when it closes.
 */
export function registerStatementsAndStandingOrders(
  app: App,
  deps: {
    config: Config;
    database: DatabaseHandle;
    secrets: Secrets;
    batcher: CommandBatcher;
    tokens: TokenService;
  },
): void {
  const { config, database, tokens } = deps;
  const statements = new StatementsService({
    db: database.db,
    engine: database.engine,
    timeZone: config.statementTimeZone,
  });
  registerStatementRoutes(app, { statements, tokens });
}
