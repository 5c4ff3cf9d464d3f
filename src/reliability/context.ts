import type { App } from '../http/types.ts';
import { DependencyMonitor } from './dependencies.ts';
import { RedisWatch } from './redis.ts';

export interface Reliability {
  monitor: DependencyMonitor;
  redis: RedisWatch;
}

const byApp = new WeakMap<App, Reliability>();

/**
 * The dependency monitor and Redis watch of one app. Several parts open Redis clients
 * (rate limits, login back-off, session revocation); they all report to the same monitor,
 * which readiness and the error handler read.
 */
export function reliabilityOf(app: App): Reliability {
  let found = byApp.get(app);
  if (found === undefined) {
    const monitor = new DependencyMonitor(app.log);
    found = { monitor, redis: new RedisWatch(monitor) };
    byApp.set(app, found);
    app.addHook('onClose', async () => monitor.close());
  }
  return found;
}
