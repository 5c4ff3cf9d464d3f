import { Gauge, Histogram, type Registry } from 'prom-client';
import type { StaffStepUp } from '../admin/access.ts';
import type { Secrets } from '../auth/secrets.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { Config } from '../config.ts';
import type { DatabaseHandle } from '../db/database.ts';
import type { App } from '../http/types.ts';
import type { CommandBatcher } from '../ledger/batcher.ts';
import { WebhookDispatcher } from '../webhooks/dispatcher.ts';
import { registerWebhookRoutes } from '../webhooks/routes.ts';
import { webhookSecretKey } from '../webhooks/secrets.ts';
import { WebhooksService } from '../webhooks/webhooks-service.ts';
import { consumerPositions } from './consumer-lease.ts';
import { NATS_CONSUMER, NatsEventPublisher } from './nats-publisher.ts';
import { lastSequence } from './outbox.ts';
import { registerEventRoutes } from './routes.ts';

/**
 * Everything of "Events for other systems" in one place: the pull API, the webhook admin
 * API, and the background parts (NATS publisher when `EVENTS_NATS_URL` is set, webhook
 * dispatcher always), started when the app is ready and stopped when it closes. Returns
 * the metrics it adds to /metrics.
 */
export function registerEvents(
  app: App,
  deps: {
    config: Config;
    database: DatabaseHandle;
    secrets: Secrets;
    tokens: TokenService;
    batcher: CommandBatcher;
    stepUp: StaffStepUp;
  },
): (registry: Registry) => void {
  const { config, database, tokens } = deps;
  const { db } = database;
  const secretKey = webhookSecretKey(deps.secrets.pinPepper);
  const policy = {
    allowList: new Set(config.webhooks.allowedHosts),
    timeoutMs: config.webhooks.timeoutMs,
    maxResponseBytes: config.webhooks.maxResponseBytes,
    retryBaseMs: config.webhooks.retryBaseMs,
    retryMaxMs: config.webhooks.retryMaxMs,
    maxAttempts: config.webhooks.maxAttempts,
    disableAfterFailures: config.webhooks.disableAfterFailures,
  };
  const webhooks = new WebhooksService({
    db,
    engine: database.engine,
    secretKey,
    policy,
    stepUp: deps.stepUp,
  });
  registerEventRoutes(app, { db, tokens });
  registerWebhookRoutes(app, { webhooks, tokens });

  const latency = new Histogram({
    name: 'corebank_events_publish_latency_seconds',
    help: 'Time from an event being written to its JetStream acknowledgement',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [],
  });
  const publisher =
    config.events.natsUrl === undefined
      ? null
      : new NatsEventPublisher({
          db,
          natsUrl: config.events.natsUrl,
          leaseMs: config.events.leaseMs,
          pollIntervalMs: config.events.pollIntervalMs,
          batchSize: config.events.publishBatch,
          publishTimeoutMs: config.events.publishTimeoutMs,
          log: app.log,
          onAcked: (events, ackedAtMs) => {
            for (const event of events) {
              latency.observe(Math.max(0, ackedAtMs - Date.parse(event.time)) / 1000);
            }
          },
        });
  const dispatcher = new WebhookDispatcher({
    db,
    secretKey,
    policy,
    pollIntervalMs: config.webhooks.pollIntervalMs,
    leaseMs: config.events.leaseMs,
    log: app.log,
  });
  app.addHook('onReady', async () => {
    publisher?.start();
    dispatcher.start();
  });
  app.addHook('onClose', async () => {
    await Promise.all([publisher?.stop(), dispatcher.stop()]);
  });

  return (registry) => {
    registry.registerMetric(latency);
    const gauge = (name: string, help: string, read: () => number | Promise<number>) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          this.set(await read());
        },
      });
    gauge(
      'corebank_ledger_mean_batch_size',
      'Money commands per committed batch, on average',
      () => {
        const { batches, commands } = deps.batcher.stats;
        return batches === 0 ? 0 : commands / batches;
      },
    );
    gauge('corebank_events_last_sequence', 'Sequence of the newest event in the outbox', async () =>
      Number(await lastSequence(db)),
    );
    new Gauge({
      name: 'corebank_events_consumer_lag',
      help: 'Events in the outbox not yet handled, by consumer (nats: published; webhooks: fanned out)',
      labelNames: ['consumer'] as const,
      registers: [registry],
      async collect() {
        const last = Number(await lastSequence(db));
        const positions = await consumerPositions(db);
        // Without EVENTS_NATS_URL nothing publishes, and a "lag" would only alarm.
        for (const name of publisher === null ? ['webhooks'] : [NATS_CONSUMER, 'webhooks']) {
          const found = positions.find((p) => p.name === name);
          this.set({ consumer: name }, last - Number(found?.position ?? 0n));
        }
      },
    });
    gauge('corebank_events_published_total', 'Events this process published to JetStream', () =>
      publisher === null ? 0 : publisher.stats.published,
    );
    gauge(
      'corebank_events_publisher_lease_held',
      '1 while this process is the NATS publisher',
      () => (publisher?.stats.holdsLease === true ? 1 : 0),
    );
    gauge('corebank_events_publish_failures_total', 'Failed publishing rounds (NATS away)', () =>
      publisher === null ? 0 : publisher.stats.failures,
    );
    gauge(
      'corebank_webhook_attempts_total',
      'Webhook delivery attempts by this process',
      () => dispatcher.stats.attempts,
    );
    gauge(
      'corebank_webhook_failures_total',
      'Failed webhook delivery attempts by this process',
      () => dispatcher.stats.failures,
    );
    gauge(
      'corebank_webhook_endpoints_disabled_total',
      'Endpoints this process disabled',
      () => dispatcher.stats.disabled,
    );
    gauge(
      'corebank_webhook_deliveries_pending',
      'Webhook deliveries waiting to be sent',
      async () => {
        const row = await db
          .selectFrom('webhook_deliveries')
          .select((eb) => eb.fn.countAll<bigint>().as('n'))
          .where('status', '=', 'pending')
          .executeTakeFirstOrThrow();
        return Number(row.n);
      },
    );
  };
}
