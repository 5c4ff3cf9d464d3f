import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { retryDelayMs } from '../src/webhooks/dispatcher.ts';
import { sendWebhook } from '../src/webhooks/sender.ts';
import { isPrivateAddress, RefusedAddressError } from '../src/webhooks/ssrf.ts';
import { assertProblem, eventually } from './support/auth-helpers.ts';
import { createTestApp, ENGINES, type TestApp, type TestUser } from './support/harness.ts';
import { WebhookReceiver } from './support/receiver.ts';

/**
 * Webhooks: admin-managed endpoints, Standard Webhooks signatures (checked with the
 * reference library), retries with back-off until the receiver recovers, disabling after a
 * run of failures, the delivery log, the event-type filter, and the SSRF guard.
 */

interface Endpoint {
  id: string;
  url: string;
  eventTypes: string[];
  status: string;
  secret?: string;
}

interface Delivery {
  eventId: string;
  attempt: number;
  status: string;
  responseStatus: number | null;
  at: string;
}

describe('webhook address guard', () => {
  it('classifies private, loopback and public addresses', () => {
    const cases: Array<[string, boolean]> = [
      ['127.0.0.1', true],
      ['127.255.0.9', true],
      ['10.1.2.3', true],
      ['172.16.0.1', true],
      ['172.31.255.255', true],
      ['172.32.0.1', false],
      ['192.168.1.1', true],
      ['169.254.169.254', true],
      ['100.64.0.1', true],
      ['0.0.0.0', true],
      ['224.0.0.1', true],
      ['255.255.255.255', true],
      ['8.8.8.8', false],
      ['93.184.216.34', false],
      ['::1', true],
      ['::', true],
      ['fd00::1', true],
      ['fe80::1', true],
      ['::ffff:127.0.0.1', true],
      ['::ffff:7f00:1', true],
      ['::ffff:8.8.8.8', false],
      ['64:ff9b::10.0.0.1', true],
      ['2606:4700:4700::1111', false],
      ['not-an-address', true],
    ];
    for (const [address, expected] of cases) {
      assert.equal(isPrivateAddress(address), expected, address);
    }
  });

  it('refuses a loopback address by literal and by a name that resolves to it', async () => {
    const receiver = new WebhookReceiver();
    await receiver.start();
    try {
      const options = { allowList: new Set<string>(), timeoutMs: 2000, maxResponseBytes: 1024 };
      for (const host of ['127.0.0.1', 'localhost', '[::ffff:127.0.0.1]']) {
        await assert.rejects(
          sendWebhook(new URL(`http://${host}:${receiver.port}/hook`), {}, '{}', options),
          (error: unknown) =>
            error instanceof RefusedAddressError || /private|loopback/.test(String(error)),
          host,
        );
      }
      assert.equal(receiver.received.length, 0, 'nothing reached the receiver');
      // Allow-listed, the same receiver is reached.
      const allowed = await sendWebhook(new URL(receiver.url), {}, '{}', {
        ...options,
        allowList: new Set(['127.0.0.1']),
      });
      assert.equal(allowed.status, 200);
    } finally {
      await receiver.stop();
    }
  });

  it('gives up on a receiver that does not answer in time, and reads a capped answer', async () => {
    const server = http.createServer((request, response) => {
      if (request.url === '/slow') return; // never answers
      response.writeHead(200);
      response.end(Buffer.alloc(5 * 1024 * 1024, 120)); // 5 MiB
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const options = { allowList: new Set(['127.0.0.1']), timeoutMs: 300, maxResponseBytes: 1024 };
    try {
      const started = Date.now();
      await assert.rejects(
        sendWebhook(new URL(`http://127.0.0.1:${port}/slow`), {}, '{}', options),
        /no complete answer within 300 ms/,
      );
      assert.ok(Date.now() - started < 2000);
      const big = await sendWebhook(new URL(`http://127.0.0.1:${port}/big`), {}, '{}', options);
      assert.equal(big.status, 200);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('backs off exponentially with jitter, up to the cap', () => {
    const policy = {
      allowList: new Set<string>(),
      timeoutMs: 1,
      maxResponseBytes: 1,
      retryBaseMs: 10_000,
      retryMaxMs: 14_400_000,
      maxAttempts: 15,
      disableAfterFailures: 50,
    };
    assert.equal(retryDelayMs(policy, 1, 0.5), 10_000);
    assert.equal(retryDelayMs(policy, 2, 0.5), 20_000);
    assert.equal(retryDelayMs(policy, 5, 0.5), 160_000);
    assert.equal(retryDelayMs(policy, 20, 0.5), 14_400_000);
    assert.equal(retryDelayMs(policy, 1, 0), 5_000);
    assert.equal(retryDelayMs(policy, 1, 0.999_999), 15_000);
    // Over the default 15 attempts the retries span hours.
    let total = 0;
    for (let attempt = 1; attempt < 15; attempt++) total += retryDelayMs(policy, attempt, 0.5);
    assert.ok(total > 6 * 3_600_000, `${total} ms`);
  });
});

for (const engine of ENGINES) {
  describe(`webhooks [${engine}]`, () => {
    let t: TestApp;
    let admin: TestUser;
    let auditor: TestUser;
    const receiver = new WebhookReceiver();

    before(async () => {
      await receiver.start();
      t = await createTestApp(engine, {
        WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
        WEBHOOK_POLL_INTERVAL_MS: '25',
        WEBHOOK_RETRY_BASE_MS: '20',
        WEBHOOK_RETRY_MAX_MS: '200',
        WEBHOOK_DISABLE_AFTER_FAILURES: '8',
        WEBHOOK_TIMEOUT_MS: '2000',
      });
      admin = await t.staff('admin');
      auditor = await t.staff('auditor');
    });
    after(async () => {
      await t.close();
      await receiver.stop();
    });

    async function createEndpoint(url: string, eventTypes?: string[]) {
      const response = await t.request<Endpoint>('POST', '/api/v1/admin/webhook-endpoints', {
        token: admin.token,
        body: {
          url,
          ...(eventTypes === undefined ? {} : { eventTypes }),
          otp: await t.staffOtp(admin),
        },
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body;
    }

    async function deliveries(id: string): Promise<Delivery[]> {
      const response = await t.request<{ data: Delivery[] }>(
        'GET',
        `/api/v1/admin/webhook-endpoints/${id}/deliveries?limit=100`,
        { token: auditor.token },
      );
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.data;
    }

    it('shows the secret once, lists endpoints to auditors and refuses everyone else', async () => {
      const endpoint = await createEndpoint(`${receiver.url}?list`, ['account.opened']);
      assert.match(endpoint.secret ?? '', /^whsec_[A-Za-z0-9+/]{32}$/);
      assert.deepEqual(endpoint.eventTypes, ['account.opened']);
      const list = await t.request<{ data: Endpoint[] }>('GET', '/api/v1/admin/webhook-endpoints', {
        token: auditor.token,
      });
      assert.equal(list.status, 200);
      const listed = list.body.data.find((e) => e.id === endpoint.id);
      assert.ok(listed);
      assert.equal('secret' in listed, false, 'the secret is never shown again');
      assert.doesNotMatch(JSON.stringify(list.body), /whsec_/);

      const customer = await t.customer();
      const teller = await t.staff('teller');
      for (const who of [customer, teller, auditor]) {
        assertProblem(
          await t.request('POST', '/api/v1/admin/webhook-endpoints', {
            token: who.token,
            body: { url: receiver.url },
          }),
          403,
          'FORBIDDEN',
        );
        assertProblem(
          await t.request('DELETE', `/api/v1/admin/webhook-endpoints/${endpoint.id}`, {
            token: who.token,
          }),
          403,
          'FORBIDDEN',
        );
      }
      for (const who of [customer, teller]) {
        assertProblem(
          await t.request('GET', '/api/v1/admin/webhook-endpoints', { token: who.token }),
          403,
          'FORBIDDEN',
        );
      }
      assertProblem(
        await t.request('GET', '/api/v1/admin/webhook-endpoints'),
        401,
        'UNAUTHENTICATED',
      );
      assertProblem(
        await t.request('POST', '/api/v1/admin/webhook-endpoints', {
          token: admin.token,
          body: { url: receiver.url, eventTypes: ['not.a.type'], otp: await t.staffOtp(admin) },
        }),
        400,
        'VALIDATION_FAILED',
      );
      const removed = await t.request(
        'DELETE',
        `/api/v1/admin/webhook-endpoints/${endpoint.id}?otp=${await t.staffOtp(admin)}`,
        { token: admin.token },
      );
      assert.equal(removed.status, 204);
      assertProblem(
        await t.request(
          'DELETE',
          `/api/v1/admin/webhook-endpoints/${endpoint.id}?otp=${await t.staffOtp(admin)}`,
          { token: admin.token },
        ),
        404,
        'NOT_FOUND',
      );
    });

    it('refuses a URL on a private or loopback address that is not allow-listed', async () => {
      for (const url of [
        'http://127.0.0.2/hook',
        'http://localhost/hook',
        'http://10.0.0.7/hook',
        'http://169.254.169.254/latest/meta-data',
        'http://[::1]/hook',
        'http://192.168.1.20:8080/',
        'ftp://example.com/',
        'http://user:pw@127.0.0.1/',
        'not a url',
      ]) {
        const response = await t.request('POST', '/api/v1/admin/webhook-endpoints', {
          token: admin.token,
          body: { url, otp: await t.staffOtp(admin) },
        });
        assertProblem(response, 400, 'VALIDATION_FAILED', 'url');
      }
    });

    it('signs deliveries as Standard Webhooks and retries a failing receiver until it takes the event', async () => {
      let failuresLeft = 5;
      receiver.answer = (request) => {
        if (!request.body.includes('"account.opened"')) return 200;
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          return 500;
        }
        return 200;
      };
      const endpoint = await createEndpoint(receiver.url, ['account.opened']);
      const customer = await t.customer();
      const opened = await t.openAccount(customer);
      const arrived = await eventually(
        async () =>
          receiver.received.filter((r) => r.body.includes(opened.accountNumber)).length >= 6,
        15_000,
      );
      assert.ok(arrived, `received ${receiver.received.length} requests`);
      const requests = receiver.received.filter((r) => r.body.includes(opened.accountNumber));
      assert.equal(new Set(requests.map((r) => r.headers['webhook-id'])).size, 1, 'one event');
      const wh = new Webhook(endpoint.secret ?? '');
      for (const request of requests) {
        const payload = wh.verify(request.body, request.headers) as Record<string, unknown>;
        assert.equal(payload.type, 'account.opened');
        assert.equal((payload.data as Record<string, unknown>).accountNumber, opened.accountNumber);
        assert.equal(payload.id, request.headers['webhook-id']);
      }
      // A signature made with another secret does not verify.
      const forged = new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
      assert.throws(() => forged.verify(requests[0]?.body ?? '', requests[0]?.headers ?? {}));
      // Retries wait longer and longer (base 20 ms, doubling, ±50 % jitter).
      const gaps = requests.slice(1).map((r, i) => r.at - (requests[i]?.at ?? 0));
      assert.ok((gaps.at(-1) ?? 0) >= 80, `gaps ${gaps.join(',')}`);

      const ok = await eventually(async () => (await deliveries(endpoint.id)).length === 6, 5000);
      assert.ok(ok);
      const log = (await deliveries(endpoint.id)).reverse();
      assert.deepEqual(
        log.map((d) => [d.attempt, d.status, d.responseStatus]),
        [
          [1, 'failed', 500],
          [2, 'failed', 500],
          [3, 'failed', 500],
          [4, 'failed', 500],
          [5, 'failed', 500],
          [6, 'succeeded', 200],
        ],
      );
      const list = await t.request<{ data: Endpoint[] }>('GET', '/api/v1/admin/webhook-endpoints', {
        token: admin.token,
      });
      assert.equal(list.body.data.find((e) => e.id === endpoint.id)?.status, 'enabled');
      receiver.answer = () => 200;
    });

    it('sends only the chosen event types, and disables an endpoint after a run of failures', async () => {
      const failing = new WebhookReceiver();
      await failing.start();
      failing.answer = () => 503;
      try {
        const endpoint = await createEndpoint(failing.url, ['transaction.posted']);
        const { user, account } = await t.fundedCustomer('100.00');
        for (let i = 0; i < 3; i++)
          assert.equal((await t.deposit(user, account, '1.00')).status, 201);
        const disabled = await eventually(async () => {
          const list = await t.request<{ data: Endpoint[] }>(
            'GET',
            '/api/v1/admin/webhook-endpoints',
            { token: admin.token },
          );
          return list.body.data.find((e) => e.id === endpoint.id)?.status === 'disabled';
        }, 15_000);
        assert.ok(disabled, 'endpoint disabled');
        const log = await deliveries(endpoint.id);
        assert.equal(log.length, 8, 'disabled at the 8th failure in a row');
        assert.ok(log.every((d) => d.status === 'failed' && d.responseStatus === 503));
        const count = failing.received.length;
        assert.ok(
          failing.received.every((r) => JSON.parse(r.body).type === 'transaction.posted'),
          'only the chosen type',
        );
        await t.deposit(user, account, '1.00');
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(failing.received.length, count, 'nothing is sent to a disabled endpoint');
      } finally {
        await failing.stop();
      }
    });
  });
}
