import { Type } from 'typebox';
import { type DatabaseHandle, ping, writeProbe } from '../db/database.ts';
import type { App } from '../http/types.ts';
import { reliabilityOf } from './context.ts';
import type { DependencyName } from './dependencies.ts';

const Ready = Type.Object({
  status: Type.Literal('ok'),
  database: Type.String({ description: 'engine: sqlite or postgres' }),
  redis: Type.Optional(Type.Literal('ok', { description: 'present when REDIS_URL is set' })),
});

const NotReady = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    instance: Type.Optional(Type.String()),
    unavailable: Type.Array(Type.Union([Type.Literal('database'), Type.Literal('redis')])),
  },
  { description: 'RFC 9457 problem document naming the dependencies that are down' },
);

/**
 * `GET /health/ready`: 200 only when every configured dependency works, otherwise 503 with
 * `Retry-After` and the names of the dependencies that are down. While the database is
 * known to be down (an outage was seen), readiness asks for a durable write, not a read, so
 * a full disk or a read-only standby is not reported ready; Redis is judged by its clients'
 * connection state. The causes themselves go to the log, not to the answer.
 */
export function registerReadiness(app: App, database: DatabaseHandle): void {
  const { monitor, redis } = reliabilityOf(app);
  monitor.setProbe('database', () => writeProbe(database.db));
  app.get(
    '/health/ready',
    {
      schema: {
        tags: ['operations'],
        summary: 'Every dependency answers (database, and Redis when configured)',
        response: { 200: Ready, 503: NotReady },
      },
    },
    async (request, reply) => {
      const unavailable: DependencyName[] = [];
      if (monitor.isDown('database')) {
        if (!(await monitor.check('database'))) unavailable.push('database');
      } else {
        try {
          await ping(database.db);
        } catch (error) {
          const failure = monitor.observe(error);
          if (failure === undefined) {
            monitor.markDown('database', error instanceof Error ? error.message : String(error));
          }
          unavailable.push('database');
        }
      }
      if (redis.configured && !redis.allReady()) unavailable.push('redis');
      if (unavailable.length === 0) {
        return {
          status: 'ok' as const,
          database: database.engine,
          ...(redis.configured ? { redis: 'ok' as const } : {}),
        };
      }
      return reply
        .status(503)
        .header('retry-after', '1')
        .type('application/problem+json')
        .send({
          type: 'https://corebank.dev/problems/service-unavailable',
          title: 'Service unavailable',
          status: 503,
          detail: `unavailable: ${unavailable.join(', ')}`,
          code: 'SERVICE_UNAVAILABLE',
          instance: `urn:corebank:request:${request.id}`,
          unavailable,
        });
    },
  );
}
