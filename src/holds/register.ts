import type { TokenService } from '../auth/tokens.ts';
import type { Config } from '../config.ts';
import type { DatabaseHandle } from '../db/database.ts';
import type { App } from '../http/types.ts';
import type { CommandBatcher } from '../ledger/batcher.ts';
import { HoldSweeper } from './hold-sweeper.ts';
import { HoldsService } from './holds-service.ts';
import { registerHoldRoutes } from './routes.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The hold sweeper (tests call `sweep` with their own clock). */
    holdSweeper: HoldSweeper;
  }
}

/** Holds as one part of the app: service, routes, and the sweeper of expired holds. */
export function registerHolds(
  app: App,
  deps: { config: Config; database: DatabaseHandle; batcher: CommandBatcher; tokens: TokenService },
): HoldsService {
  const { config, database } = deps;
  const holds = new HoldsService({
    db: database.db,
    batcher: deps.batcher,
    maxAmountMajor: config.maxAmountMajor,
  });
  registerHoldRoutes(app, { holds, tokens: deps.tokens });
  const sweeper = new HoldSweeper({
    db: database.db,
    engine: database.engine,
    intervalMs: config.holdSweepIntervalMs,
    log: app.log.child({ component: 'hold-sweeper' }),
  });
  app.decorate('holdSweeper', sweeper);
  app.addHook('onReady', async () => sweeper.start());
  app.addHook('onClose', async () => sweeper.stop());
  return holds;
}
