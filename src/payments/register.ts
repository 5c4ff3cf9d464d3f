import type { TokenService } from '../auth/tokens.ts';
import type { Config } from '../config.ts';
import type { DatabaseHandle } from '../db/database.ts';
import type { App } from '../http/types.ts';
import type { CommandBatcher } from '../ledger/batcher.ts';
import { PaymentDispatcher } from './dispatcher.ts';
import { paymentNetworkClientOf } from './network-client.ts';
import { NetworkWebhookVerifier } from './network-webhooks.ts';
import { PaymentsService } from './payments-service.ts';
import { registerPaymentRoutes } from './routes.ts';
import { DatabaseSeenWebhookIds } from './seen-webhook-ids-repository.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The outbound payment dispatcher; null without a payment network. */
    paymentDispatcher: PaymentDispatcher | null;
  }
}

/**
 * Payments to and from other banks as one part of the app: the service and routes, the
 * network's event endpoint, and (with a network configured) the dispatcher, which starts
 * when the app is ready and stops when it closes.
 */
export function registerPayments(
  app: App,
  deps: {
    config: Config;
    database: DatabaseHandle;
    batcher: CommandBatcher;
    tokens: TokenService;
  },
): PaymentsService {
  const { config, database } = deps;
  const payments = new PaymentsService({
    db: database.db,
    batcher: deps.batcher,
    maxAmountMajor: config.maxAmountMajor,
    bankCode: config.bankCode,
  });
  const network = config.paymentNetwork;
  const verifier =
    network === undefined
      ? null
      : new NetworkWebhookVerifier({
          secret: network.webhookSecret,
          seen: new DatabaseSeenWebhookIds(database.db),
        });
  const client = network === undefined ? null : paymentNetworkClientOf(network);
  registerPaymentRoutes(app, { payments, tokens: deps.tokens, verifier, db: database.db, client });
  const dispatcher =
    client === null
      ? null
      : new PaymentDispatcher({
          db: database.db,
          client,
          payments,
          options: config.paymentDispatch,
          log: app.log.child({ component: 'payment-dispatcher' }),
        });
  app.decorate('paymentDispatcher', dispatcher);
  if (dispatcher !== null) {
    app.addHook('onReady', async () => dispatcher.start());
    app.addHook('onClose', async () => dispatcher.stop());
  }
  return payments;
}
