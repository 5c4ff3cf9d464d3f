import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { CommandBatcher } from '../ledger/batcher.ts';
import { metricsAccess } from './hardening.ts';
import type { App } from './types.ts';

/**
 * `GET /metrics` in Prometheus text format: request counts and latencies per route
 * pattern (never per raw URL, which would put account numbers into labels and make the
 * label set unbounded), plus the process's own metrics. It is not public: see metricsAccess
 * (METRICS_TOKEN). Each app has its own registry, so
 * several apps in one test process do not collide.
 */
export function registerMetrics(
  app: App,
  batcher: CommandBatcher,
  config: Config,
  ...more: Array<(registry: Registry) => void>
): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const add of more) add(registry);
  // Group commit at a glance: commands per batch is commands_total / batches_total.
  const ledgerGauges: Array<[string, string, () => number]> = [
    [
      'corebank_ledger_batches_total',
      'Money command batches committed',
      () => batcher.stats.batches,
    ],
    [
      'corebank_ledger_commands_total',
      'Money commands applied in batches',
      () => batcher.stats.commands,
    ],
    [
      'corebank_ledger_largest_batch',
      'Most commands in one batch so far',
      () => batcher.stats.largestBatch,
    ],
    [
      'corebank_ledger_rejected_total',
      'Money commands refused with 503 (queue full)',
      () => batcher.stats.rejected,
    ],
    ['corebank_ledger_queued', 'Money commands waiting for a batch', () => batcher.queued],
  ];
  for (const [name, help, read] of ledgerGauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  }
  const requests = new Counter({
    name: 'corebank_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'corebank_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  // Synchronous (issue #17): it runs after every response and has nothing to await.
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    done();
  });

  app.get(
    '/metrics',
    { schema: { hide: true }, onRequest: metricsAccess(config) },
    async (_request, reply) => {
      reply.type(registry.contentType);
      return registry.metrics();
    },
  );
}
