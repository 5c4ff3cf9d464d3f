/**
 * Outbox lag under load: `npm run events:lag` (PostgreSQL at TEST_DATABASE_URL, a NATS
 * server of its own). Starts one real server (`src/main.ts`) with EVENTS_NATS_URL on a
 * fresh database, drives transfers between random customers with C concurrent clients for
 * D seconds, waits until JetStream holds every event, and prints: money commands per second,
 * events published per second, and the time from each event being written (its `time`,
 * taken when its batch started, so an upper bound on commit) to JetStream storing it (the
 * stored message's timestamp; the acknowledgement follows at once): p50, p99, max.
 *
 *   npm run events:lag -- --duration 20 --connections 64 --customers 200
 *   npm run events:lag -- --no-nats        # the same load with no publisher, for comparison
 *   npm run events:lag -- --root DIR       # run the server of another checkout (no events)
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createTestDatabase } from '../test/support/harness.ts';
import { OwnNatsServer, readStream, streamLength } from '../test/support/nats.ts';
import {
  childEnv,
  freePort,
  httpJson,
  PROJECT_ROOT,
  ProcessGroup,
} from '../test/support/process.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    connections: { type: 'string', default: '64' },
    customers: { type: 'string', default: '200' },
    'no-nats': { type: 'boolean', default: false },
    root: { type: 'string' },
  },
});
const durationMs = Number(values.duration) * 1000;
const connections = Number(values.connections);
const customerCount = Number(values.customers);
const PASSWORD = 'measuring the outbox lag';
const PIN = '4812';

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

const group = new ProcessGroup();
const nats = values['no-nats'] ? null : new OwnNatsServer();
const database = await createTestDatabase('postgres');
try {
  await nats?.start();
  const port = await freePort();
  // The server of this checkout, or of another one (--root) for a comparison without events.
  group.track(
    spawn(process.execPath, ['src/main.ts'], {
      cwd: path.resolve(values.root ?? PROJECT_ROOT),
      env: childEnv(database.env, {
        HOST: '127.0.0.1',
        PORT: String(port),
        RATE_LIMITS: 'off',
        LOG_LEVEL: 'warn',
        ...(nats === null ? {} : { EVENTS_NATS_URL: nats.url }),
      }),
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const up = await fetch(`${base}/health/ready`)
      .then((r) => r.ok)
      .catch(() => false);
    if (up) break;
    if (i > 300) throw new Error('server did not start');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  process.stdout.write(`seeding ${customerCount} customers…\n`);
  const customers: Array<{ token: string; account: string }> = [];
  for (let i = 0; i < customerCount; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, customerCount - i) }, async () => {
        const username = `lag_${crypto.randomBytes(5).toString('hex')}`;
        await httpJson(base, 'POST', '/api/v1/auth/register', {
          body: {
            username,
            password: PASSWORD,
            fullName: 'Lag Test',
            email: `${username}@example.com`,
          },
        });
        const login = await httpJson<{ accessToken: string }>(base, 'POST', '/api/v1/auth/login', {
          body: { username, password: PASSWORD },
        });
        const token = login.body.accessToken;
        await httpJson(base, 'PUT', '/api/v1/me/pin', {
          token,
          body: { password: PASSWORD, pin: PIN },
        });
        const opened = await httpJson<{ accountNumber: string }>(base, 'POST', '/api/v1/accounts', {
          token,
          body: {},
        });
        await httpJson(base, 'POST', `/api/v1/accounts/${opened.body.accountNumber}/deposits`, {
          token,
          body: { amount: '100000.00' },
        });
        return { token, account: opened.body.accountNumber };
      }),
    );
    customers.push(...batch);
  }
  const startedAt = Date.now();
  let ok = 0;
  let failed = 0;
  /** When the client had each transfer's answer (after its commit), by transaction id. */
  const answeredAt = new Map<string, number>();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() - startedAt < durationMs) {
        const i = crypto.randomInt(customers.length);
        const from = customers[i];
        const to = customers[(i + 1 + crypto.randomInt(customers.length - 1)) % customers.length];
        if (from === undefined || to === undefined) continue;
        const response = await httpJson<{ id: string }>(
          base,
          'POST',
          `/api/v1/accounts/${from.account}/transfers`,
          { token: from.token, body: { toAccount: to.account, amount: '0.01', pin: PIN } },
        );
        if (response.status === 201) {
          ok += 1;
          answeredAt.set(response.body.id, Date.now());
        } else failed += 1;
      }
    }),
  );
  const elapsedS = (Date.now() - startedAt) / 1000;
  process.stdout.write(
    `load: ${connections} clients, ${elapsedS.toFixed(1)} s: ${ok} transfers (${(ok / elapsedS).toFixed(0)}/s), ${failed} failed\n`,
  );
  if (nats !== null) {
    const deadline = Date.now() + 60_000;
    // Every event the outbox holds (seeding requests shed under load write none).
    const outbox = new pg.Client({ connectionString: database.env.DATABASE_URL });
    await outbox.connect();
    const counter = await outbox
      .query<{ last: string }>(
        'select last_sequence::text as last from event_sequence where id = 1',
      )
      .finally(() => outbox.end());
    const expected = Number(counter.rows[0]?.last ?? 0);
    while ((await streamLength(nats.url)) < expected && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const streamed = await readStream(nats.url);
    const inLoad = streamed.filter((e) => Date.parse(e.time) >= startedAt);
    const lags = inLoad.map((e) => e.storedAtMs - Date.parse(e.time)).sort((a, b) => a - b);
    const afterAnswer = inLoad
      .flatMap((e) => {
        const at = answeredAt.get(String(e.data.transactionId));
        return at === undefined ? [] : [e.storedAtMs - at];
      })
      .sort((a, b) => a - b);
    const spanS = ((inLoad.at(-1)?.storedAtMs ?? 0) - (inLoad[0]?.storedAtMs ?? 0)) / 1000;
    const inOrder = streamed.every((e, i) => e.sequence === i + 1);
    process.stdout.write(
      `events: ${streamed.length} in the stream (the outbox holds ${expected}), in order: ${inOrder}, ` +
        `duplicates: ${streamed.length - new Set(streamed.map((e) => e.id)).size}\n` +
        `published during load: ${inLoad.length} events in ${spanS.toFixed(1)} s = ${(inLoad.length / spanS).toFixed(0)} events/s\n` +
        `batch start → JetStream (upper bound): p50 ${percentile(lags, 50)} ms, p99 ${percentile(lags, 99)} ms, max ${lags.at(-1) ?? 0} ms\n` +
        `client has the answer → JetStream (commit is just before): p50 ${percentile(afterAnswer, 50)} ms, ` +
        `p99 ${percentile(afterAnswer, 99)} ms, max ${afterAnswer.at(-1) ?? 0} ms (negative: stored before the answer arrived)\n`,
    );
  }
} finally {
  await group.killAll();
  await nats?.dispose();
  await new Promise((resolve) => setTimeout(resolve, 500));
  await database.dispose().catch((error: unknown) => process.stderr.write(`${String(error)}\n`));
}
