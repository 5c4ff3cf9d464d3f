import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { lastSequence } from '../src/events/outbox.ts';
import { eventually } from './support/auth-helpers.ts';
import { createTestApp, ENGINES, type TestApp } from './support/harness.ts';
import { OwnNatsServer, readStream, streamLength } from './support/nats.ts';

/**
 * The NATS JetStream publisher against a NATS server of the test's own, killed (SIGKILL)
 * in the middle of a run of money traffic and restarted on the same port and store: every
 * event reaches the stream, in sequence order, none twice, on subject
 * corebank.events.<type> with the event id as message id.
 */
for (const engine of ENGINES) {
  describe(`NATS JetStream publisher [${engine}]`, () => {
    let t: TestApp;
    const nats = new OwnNatsServer();

    before(async () => {
      await nats.start();
      t = await createTestApp(engine, {
        EVENTS_NATS_URL: nats.url,
        EVENTS_POLL_INTERVAL_MS: '20',
        EVENTS_PUBLISH_BATCH: '50',
        EVENTS_PUBLISH_TIMEOUT_MS: '1000',
        EVENTS_LEASE_MS: '3000',
      });
    });
    after(async () => {
      await t.close();
      await nats.dispose();
    });

    it('delivers every event in order, none twice, across a NATS outage', {
      timeout: 120_000,
    }, async () => {
      const customers = await Promise.all(
        Array.from({ length: 4 }, () => t.fundedCustomer('1000.00')),
      );
      let running = true;
      let moved = 0;
      const traffic = (async () => {
        for (let round = 0; running && round < 10_000; round++) {
          const results = await Promise.all(
            customers.map((c) => t.deposit(c.user, c.account, '1.00')),
          );
          moved += results.filter((r) => r.status === 201).length;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();
      const db = t.runtime.database.db;
      // Some events are published before the outage.
      assert.ok(await eventually(async () => (await streamLength(nats.url)) >= 40, 20_000));
      await nats.kill();
      const atKill = Number(await lastSequence(db));
      // The bank keeps working while NATS is away; events pile up in the outbox only.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const duringOutage = Number(await lastSequence(db)) - atKill;
      assert.ok(duringOutage > 20, `only ${duringOutage} events during the outage`);
      await nats.start();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      running = false;
      await traffic;
      assert.ok(moved > 100, `only ${moved} deposits`);

      const total = Number(await lastSequence(db));
      const complete = await eventually(
        async () => (await streamLength(nats.url)) >= total,
        30_000,
      );
      assert.ok(complete, `stream has ${await streamLength(nats.url)} of ${total} events`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const streamed = await readStream(nats.url);
      assert.equal(streamed.length, total, 'no event twice');
      streamed.forEach((event, index) => {
        assert.equal(event.sequence, index + 1, `stream position ${index + 1}`);
        assert.equal(event.subject, `corebank.events.${event.type}`);
      });
      assert.equal(new Set(streamed.map((e) => e.id)).size, total);
      const position = await db
        .selectFrom('event_consumers')
        .select('position')
        .where('name', '=', 'nats')
        .executeTakeFirstOrThrow();
      assert.equal(Number(position.position), total);
      const metrics = await t.request('GET', '/metrics');
      assert.match(String(metrics.body), /corebank_events_consumer_lag\{consumer="nats"\} 0/);
      assert.match(String(metrics.body), /corebank_events_publish_latency_seconds_count [1-9]/);
    });
  });
}
