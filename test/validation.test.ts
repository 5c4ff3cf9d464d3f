import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifyLedger } from '../src/ledger/verify.ts';
import {
  createTestApp,
  DEFAULT_PASSWORD,
  DEFAULT_PIN,
  ENGINES,
  type Response,
  type TestApp,
  type TestUser,
} from './support/harness.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Problem = { type: string; title: string; status: number; detail: string; code: string };

const PROBLEM_CONTENT_TYPE = /^application\/problem\+json\b/;
const UPPER_SNAKE = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/;

/** Asserts an RFC 9457 problem document with the given status (and code and field, if given). */
function assertProblem(
  response: Response<unknown>,
  status: number,
  expected: { code?: string; field?: string } = {},
  what = '',
): Problem {
  const context = `${what} -> ${response.status} ${JSON.stringify(response.body)}`;
  assert.equal(response.status, status, context);
  assert.match(String(response.headers['content-type'] ?? ''), PROBLEM_CONTENT_TYPE, context);
  const body = response.body as Problem & { field?: string };
  assert.equal(typeof body, 'object', context);
  assert.equal(body.status, status, context);
  assert.equal(typeof body.title, 'string', context);
  assert.equal(typeof body.type, 'string', context);
  assert.equal(typeof body.detail, 'string', context);
  assert.match(body.code, UPPER_SNAKE, context);
  if (expected.code !== undefined) assert.equal(body.code, expected.code, context);
  if (expected.field !== undefined) assert.equal(body.field, expected.field, context);
  return body;
}

/** A small, seeded PRNG (mulberry32), so a failing fuzz run can be replayed exactly. */
class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let x = this.#state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  }
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)] as T;
  }
}

for (const engine of ENGINES) {
  describe(`input validation [${engine}]`, () => {
    let t: TestApp;
    let alice: TestUser;
    let bob: TestUser;
    /** Alice's USD and JPY accounts, and Bob's, as transfer destinations. */
    const acct = { aliceUsd: '', aliceJpy: '', bobUsd: '', bobJpy: '' };

    before(async () => {
      // Rate limits would turn these many refused requests into 429s; they are tested elsewhere.
      t = await createTestApp(engine, { RATE_LIMITS: 'off' });
      const funded = await t.fundedCustomer('100.00');
      alice = funded.user;
      acct.aliceUsd = funded.account;
      acct.aliceJpy = (await t.openAccount(alice, { currency: 'JPY' })).accountNumber;
      assert.equal((await t.deposit(alice, acct.aliceJpy, '5000')).status, 201);
      bob = await t.customer();
      acct.bobUsd = (await t.openAccount(bob)).accountNumber;
      acct.bobJpy = (await t.openAccount(bob, { currency: 'JPY' })).accountNumber;
    });
    after(() => t.close());

    /** Everything a refused request must leave untouched: accounts, histories, ledger size. */
    async function snapshot(): Promise<string> {
      const parts: unknown[] = [];
      for (const [user, account] of [
        [alice, acct.aliceUsd],
        [alice, acct.aliceJpy],
        [bob, acct.bobUsd],
        [bob, acct.bobJpy],
      ] as const) {
        const read = await t.request('GET', `/api/v1/accounts/${account}`, { token: user.token });
        assert.equal(read.status, 200);
        const history = await t.request(
          'GET',
          `/api/v1/accounts/${account}/transactions?limit=100`,
          {
            token: user.token,
          },
        );
        assert.equal(history.status, 200);
        parts.push(read.body, history.body);
      }
      const ledger = await verifyLedger(t.runtime.database.db);
      assert.equal(ledger.ok, true);
      parts.push(`${ledger.counts.entries}/${ledger.counts.postings}/${ledger.counts.accounts}`);
      return JSON.stringify(parts);
    }

    /** The three money routes, each with an otherwise valid body around `amount`. */
    function moneyRequests(amount: unknown, currency: 'USD' | 'JPY', extra = {}) {
      const from = currency === 'USD' ? acct.aliceUsd : acct.aliceJpy;
      const to = currency === 'USD' ? acct.bobUsd : acct.bobJpy;
      const withAmount = amount === undefined ? {} : { amount };
      return [
        { route: 'deposits', body: { ...withAmount, ...extra } },
        { route: 'withdrawals', body: { ...withAmount, pin: DEFAULT_PIN, ...extra } },
        { route: 'transfers', body: { toAccount: to, ...withAmount, pin: DEFAULT_PIN, ...extra } },
      ].map(({ route, body }) => ({
        label: `POST ${route} ${JSON.stringify(body)}`,
        send: () =>
          t.request('POST', `/api/v1/accounts/${from}/${route}`, { token: alice.token, body }),
      }));
    }

    const INVALID_AMOUNTS: Array<{ label: string; amount: unknown; currency?: 'JPY' }> = [
      { label: 'JSON number 10', amount: 10 },
      { label: 'JSON number 10.5', amount: 10.5 },
      { label: 'JSON number 0', amount: 0 },
      { label: '"0"', amount: '0' },
      { label: '"0.00"', amount: '0.00' },
      { label: '"-5"', amount: '-5' },
      { label: '"-0.01"', amount: '-0.01' },
      { label: '"+5"', amount: '+5' },
      { label: '"1e3"', amount: '1e3' },
      { label: '"NaN"', amount: 'NaN' },
      { label: '"Infinity"', amount: 'Infinity' },
      { label: '"" (empty)', amount: '' },
      { label: '" " (blank)', amount: ' ' },
      { label: '" 5" (leading space)', amount: ' 5' },
      { label: '"5 " (trailing space)', amount: '5 ' },
      { label: '"1.234" (three decimals in USD)', amount: '1.234' },
      { label: '"1.5" in a JPY account', amount: '1.5', currency: 'JPY' },
      { label: '"1.0" in a JPY account', amount: '1.0', currency: 'JPY' },
      { label: '"1,000"', amount: '1,000' },
      { label: '"0x10"', amount: '0x10' },
      { label: '".5"', amount: '.5' },
      { label: '"5."', amount: '5.' },
      { label: '"007"', amount: '007' },
      { label: '"１０" (full-width digits)', amount: '１０' },
      { label: '"٥" (Arabic-Indic digit)', amount: '٥' },
      { label: '"1_000"', amount: '1_000' },
      { label: 'null', amount: null },
      { label: 'true', amount: true },
      { label: '{}', amount: {} },
      { label: '[]', amount: [] },
      { label: '["5.00"]', amount: ['5.00'] },
      { label: 'missing', amount: undefined },
      { label: '"1000000.01" (above MAX_AMOUNT)', amount: '1000000.01' },
      { label: '"99999999999999999999999999" (far above)', amount: '99999999999999999999999999' },
      { label: 'a 10,000-digit string', amount: '9'.repeat(10_000) },
    ];

    for (const { label, amount, currency } of INVALID_AMOUNTS) {
      it(`refuses amount ${label} on deposits, withdrawals and transfers, moving nothing`, async () => {
        const before = await snapshot();
        for (const request of moneyRequests(amount, currency ?? 'USD')) {
          assertProblem(
            await request.send(),
            400,
            { code: 'VALIDATION_FAILED', field: 'amount' },
            request.label.slice(0, 200),
          );
        }
        assert.equal(await snapshot(), before, 'balances and histories are unchanged');
      });
    }

    it('accepts the boundaries of the valid range (control for the refusals above)', async () => {
      // The maximum itself is allowed: withdrawing it fails on funds, not on validation.
      const max = await t.withdraw(alice, acct.aliceUsd, '1000000.00');
      assertProblem(max, 422, { code: 'INSUFFICIENT_FUNDS' });
      const cent = await t.deposit(alice, acct.aliceUsd, '0.01');
      assert.equal(cent.status, 201, JSON.stringify(cent.body));
      assert.equal(cent.body.amount, '0.01');
      const yen = await t.deposit(alice, acct.aliceJpy, '1');
      assert.equal(yen.status, 201, JSON.stringify(yen.body));
      const tenth = await t.transfer(alice, acct.aliceUsd, acct.bobUsd, '0.1');
      assert.equal(tenth.status, 201, JSON.stringify(tenth.body));
      assert.equal(tenth.body.amount, '0.10');
    });

    it('answers 413 PAYLOAD_TOO_LARGE for a body above BODY_LIMIT_BYTES', async () => {
      const limit = t.runtime.config.bodyLimitBytes;
      const before = await snapshot();
      const description = 'x'.repeat(limit + 4096);
      for (const request of moneyRequests('1.00', 'USD', { description })) {
        assertProblem(
          await request.send(),
          413,
          { code: 'PAYLOAD_TOO_LARGE' },
          request.label.slice(0, 80),
        );
      }
      const register = await t.request('POST', '/api/v1/auth/register', {
        body: { username: 'big', password: 'p'.repeat(limit), fullName: 'Big', email: 'b@x.io' },
      });
      assertProblem(register, 413, { code: 'PAYLOAD_TOO_LARGE' });
      assert.equal(await snapshot(), before);
    });

    it('answers 400 with a problem document for malformed JSON', async () => {
      const before = await snapshot();
      for (const rawBody of [
        '{"amount": "1.00"',
        '{amount: "1.00"}',
        "{'amount':'1.00'}",
        '{"amount":"1.00"}}',
        'nul',
      ]) {
        const response = await t.request('POST', `/api/v1/accounts/${acct.aliceUsd}/deposits`, {
          token: alice.token,
          rawBody,
          headers: { 'content-type': 'application/json' },
        });
        assertProblem(response, 400, {}, rawBody);
      }
      const login = await t.request('POST', '/api/v1/auth/login', {
        rawBody: '{"username":',
        headers: { 'content-type': 'application/json' },
      });
      assertProblem(login, 400);
      assert.equal(await snapshot(), before);
    });

    it('answers 415 UNSUPPORTED_MEDIA_TYPE for a POST that is not JSON', async () => {
      const before = await snapshot();
      const attempts: Array<{ method: Method; url: string; token?: string }> = [
        { method: 'POST', url: `/api/v1/accounts/${acct.aliceUsd}/deposits`, token: alice.token },
        { method: 'POST', url: '/api/v1/auth/login' },
        { method: 'PUT', url: '/api/v1/me/pin', token: alice.token },
      ];
      for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'text/html']) {
        for (const { method, url, token } of attempts) {
          const response = await t.request(method, url, {
            ...(token === undefined ? {} : { token }),
            // JSON text, so only the declared media type is wrong.
            rawBody: '{"amount":"1.00"}',
            headers: { 'content-type': contentType },
          });
          assertProblem(
            response,
            415,
            { code: 'UNSUPPORTED_MEDIA_TYPE' },
            `${contentType} ${method} ${url}`,
          );
        }
      }
      assert.equal(await snapshot(), before);
    });

    it('refuses unknown body fields with 400 naming the field', async () => {
      const before = await snapshot();
      for (const request of moneyRequests('1.00', 'USD', { fee: '0.00' })) {
        assertProblem(
          await request.send(),
          400,
          { code: 'VALIDATION_FAILED', field: 'fee' },
          request.label,
        );
      }
      const open = await t.request('POST', '/api/v1/accounts', {
        token: alice.token,
        body: { currency: 'USD', balance: '1000000.00' },
      });
      assertProblem(open, 400, { code: 'VALIDATION_FAILED', field: 'balance' });
      const pin = await t.request('PUT', '/api/v1/me/pin', {
        token: alice.token,
        body: { password: DEFAULT_PASSWORD, pin: '1357', userId: bob.id },
      });
      assertProblem(pin, 400, { code: 'VALIDATION_FAILED', field: 'userId' });
      assert.equal(await snapshot(), before);

      // A self-registration that asks for a role is refused outright, not half-accepted.
      const username = t.uniqueName('mallory');
      const registration = {
        username,
        password: DEFAULT_PASSWORD,
        fullName: 'Mallory',
        email: `${username}@example.com`,
      };
      const escalated = await t.request('POST', '/api/v1/auth/register', {
        body: { ...registration, roles: ['admin'] },
      });
      const problem = assertProblem(escalated, 400, { code: 'VALIDATION_FAILED', field: 'roles' });
      assert.match(problem.detail, /roles/);
      // Nothing was created: the same username registers normally afterwards, as a customer.
      const plain = await t.request<{ roles: string[] }>('POST', '/api/v1/auth/register', {
        body: registration,
      });
      assert.equal(plain.status, 201, JSON.stringify(plain.body));
      assert.deepEqual(plain.body.roles, ['customer']);
    });

    it('refuses a description longer than 140 characters or with control characters', async () => {
      const before = await snapshot();
      const bad = [
        'd'.repeat(141),
        'nul\u0000byte',
        'line\nbreak',
        'carriage\rreturn',
        'tab\there',
        'del\u007f',
      ];
      for (const description of bad) {
        for (const request of moneyRequests('1.00', 'USD', { description })) {
          assertProblem(
            await request.send(),
            400,
            { code: 'VALIDATION_FAILED', field: 'description' },
            request.label,
          );
        }
      }
      assert.equal(await snapshot(), before);
      // Control: exactly 140 printable characters, including non-ASCII, are fine.
      const longest = `${'é'.repeat(70)}${'d'.repeat(70)}`;
      const ok = await t.request('POST', `/api/v1/accounts/${acct.aliceUsd}/deposits`, {
        token: alice.token,
        body: { amount: '1.00', description: longest },
      });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      assert.equal(ok.body.description, longest);
    });

    it('stores injection and script payloads byte-for-byte as plain data', async () => {
      const payloads = [
        "'; DROP TABLE postings; --",
        '<img src=x onerror=alert(1)>',
        "Robert'); DELETE FROM accounts;--",
        '" OR 1=1 --',
        '<script>alert("x")</script>',
        `\${7*7} {{7*7}} %s %n \\x00 \\' \\"`,
        // Bidi overrides are refused since issue #10 (security-hardening.test.ts).
        'Zoë 🚀 مرحبا 日本 RTL',
      ];
      for (const payload of payloads) {
        // fullName, as registered and as read back.
        const username = t.uniqueName('inj');
        const register = await t.request<{ fullName: string }>('POST', '/api/v1/auth/register', {
          body: {
            username,
            password: DEFAULT_PASSWORD,
            fullName: payload,
            email: `${username}@example.com`,
          },
        });
        assert.equal(register.status, 201, JSON.stringify(register.body));
        assert.equal(register.body.fullName, payload);
        assert.match(String(register.headers['content-type']), /^application\/json/);
        const token = await t.login(username, DEFAULT_PASSWORD);
        const me = await t.request<{ fullName: string }>('GET', '/api/v1/me', { token });
        assert.equal(me.body.fullName, payload);

        // nickname, on the account and in the list.
        const user = { id: '', username, password: DEFAULT_PASSWORD, token };
        const opened = await t.openAccount(user, { nickname: payload });
        const read = await t.request<{ nickname: string }>(
          'GET',
          `/api/v1/accounts/${opened.accountNumber}`,
          { token },
        );
        assert.equal(read.body.nickname, payload);
        const list = await t.request<{ data: Array<{ nickname: string }> }>(
          'GET',
          '/api/v1/accounts',
          {
            token,
          },
        );
        assert.deepEqual(
          list.body.data.map((account) => account.nickname),
          [payload],
        );

        // description, on a deposit and on both sides of a transfer.
        const deposit = await t.request('POST', `/api/v1/accounts/${acct.aliceUsd}/deposits`, {
          token: alice.token,
          body: { amount: '1.00', description: payload },
        });
        assert.equal(deposit.status, 201, JSON.stringify(deposit.body));
        assert.equal(deposit.body.description, payload);
        const transfer = await t.transfer(alice, acct.aliceUsd, opened.accountNumber, '0.50', {
          description: payload,
        });
        assert.equal(transfer.status, 201, JSON.stringify(transfer.body));
        assert.equal(transfer.body.description, payload);
        const theirs = await t.request<{ data: Array<{ type: string; description: string }> }>(
          'GET',
          `/api/v1/accounts/${opened.accountNumber}/transactions`,
          { token },
        );
        assert.deepEqual(theirs.body.data, [
          { ...theirs.body.data[0], type: 'transfer_in', description: payload },
        ]);
        const ours = await t.request<{ data: Array<{ type: string; description: string }> }>(
          'GET',
          `/api/v1/accounts/${acct.aliceUsd}/transactions?limit=2`,
          { token: alice.token },
        );
        assert.deepEqual(
          ours.body.data.map((row) => [row.type, row.description]),
          [
            ['transfer_out', payload],
            ['deposit', payload],
          ],
        );
      }
      // The tables are all still there and consistent, and money still moves.
      const db = t.runtime.database.db;
      for (const table of ['users', 'accounts', 'journal_entries', 'postings'] as const) {
        const row = await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<bigint>().as('n'))
          .executeTakeFirstOrThrow();
        assert.ok(BigInt(row.n) > 0n, `${table} still has rows`);
      }
      const ledger = await verifyLedger(db);
      assert.equal(ledger.ok, true);
      const again = await t.deposit(alice, acct.aliceUsd, '2.00');
      assert.equal(again.status, 201, JSON.stringify(again.body));
    });

    it('answers unknown routes with a 404 problem document', async () => {
      const attempts: Array<[Method, string]> = [
        ['GET', '/api/v1/nope'],
        ['GET', '/api/v2/accounts'],
        ['POST', '/api/v1/accounts/123456789012/refunds'],
        ['DELETE', `/api/v1/accounts/${acct.aliceUsd}`],
        ['PATCH', '/api/v1/me'],
        ['GET', '/.env'],
        ['GET', '/api/v1/../../etc/passwd'],
      ];
      for (const [method, url] of attempts) {
        const response = await t.request(method, url, { token: alice.token });
        assertProblem(response, 404, { code: 'NOT_FOUND' }, `${method} ${url}`);
        assert.ok(response.headers['x-request-id'], `${method} ${url} has x-request-id`);
      }
    });

    it('answers a malformed or overlong path segment with a problem document', async () => {
      const attempts = [
        '/api/v1/accounts/%zz',
        '/api/v1/accounts/%',
        '/api/v1/accounts/%E0%A4%A/transactions',
        `/api/v1/accounts/${'1'.repeat(500)}`,
      ];
      for (const url of attempts) {
        const response = await t.request('GET', url, { token: alice.token });
        assert.ok(response.status >= 400 && response.status < 500, `${url} -> ${response.status}`);
        assertProblem(response, response.status, {}, url.slice(0, 60));
        assert.ok(response.headers['x-request-id'], `${url.slice(0, 60)} has x-request-id`);
      }
    });

    it('refuses a crafted history cursor past the 64-bit range with 400, not 500', async () => {
      const cursors = [
        'p1:9999999999999999999',
        'p1:9223372036854775808',
        'p1:0',
        'p1:-1',
        'p2:5',
        'p1:1e3',
      ];
      for (const text of cursors) {
        const cursor = Buffer.from(text).toString('base64url');
        const response = await t.request(
          'GET',
          `/api/v1/accounts/${acct.aliceUsd}/transactions?cursor=${cursor}`,
          { token: alice.token },
        );
        assertProblem(response, 400, { code: 'VALIDATION_FAILED', field: 'cursor' }, text);
      }
      // Control: the largest 64-bit id is a valid (if empty) page.
      const max = Buffer.from('p1:9223372036854775807').toString('base64url');
      const ok = await t.request<{ data: unknown[] }>(
        'GET',
        `/api/v1/accounts/${acct.aliceUsd}/transactions?cursor=${max}`,
        { token: alice.token },
      );
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    });

    it('puts x-request-id on every response and echoes a valid caller-supplied one', async () => {
      const cases: Array<{
        method: Method;
        url: string;
        token?: string;
        body?: unknown;
        rawBody?: string;
        type?: string;
      }> = [
        { method: 'GET', url: '/health/live' },
        { method: 'GET', url: '/api/v1/me', token: alice.token },
        { method: 'GET', url: '/api/v1/me' },
        { method: 'GET', url: '/api/v1/nope' },
        {
          method: 'POST',
          url: `/api/v1/accounts/${acct.aliceUsd}/deposits`,
          token: alice.token,
          body: { amount: 1 },
        },
        {
          method: 'POST',
          url: `/api/v1/accounts/${acct.aliceUsd}/deposits`,
          token: alice.token,
          rawBody: '{',
          type: 'application/json',
        },
        {
          method: 'POST',
          url: `/api/v1/accounts/${acct.aliceUsd}/deposits`,
          token: alice.token,
          rawBody: 'x'.repeat(20_000),
          type: 'application/json',
        },
        {
          method: 'POST',
          url: `/api/v1/accounts/${acct.aliceUsd}/deposits`,
          token: alice.token,
          rawBody: 'x',
          type: 'text/csv',
        },
        {
          method: 'POST',
          url: `/api/v1/accounts/${acct.aliceUsd}/withdrawals`,
          token: alice.token,
          body: { amount: '999999.00', pin: DEFAULT_PIN },
        },
        {
          method: 'POST',
          url: `/api/v1/accounts/${acct.bobUsd}/deposits`,
          token: alice.token,
          body: { amount: '1.00' },
        },
      ];
      for (const [index, c] of cases.entries()) {
        const label = `${c.method} ${c.url.slice(0, 60)}`;
        const options = {
          ...(c.token === undefined ? {} : { token: c.token }),
          ...(c.body === undefined ? {} : { body: c.body }),
          ...(c.rawBody === undefined ? {} : { rawBody: c.rawBody }),
        };
        const generated = await t.request(c.method, c.url, {
          ...options,
          ...(c.type === undefined ? {} : { headers: { 'content-type': c.type } }),
        });
        const id = generated.headers['x-request-id'];
        assert.equal(typeof id, 'string', `${label}: x-request-id on ${generated.status}`);
        assert.ok(String(id).length > 0);

        const mine = `trace-${index}.abc_DEF-123`;
        const echoed = await t.request(c.method, c.url, {
          ...options,
          headers: {
            'x-request-id': mine,
            ...(c.type === undefined ? {} : { 'content-type': c.type }),
          },
        });
        assert.equal(echoed.headers['x-request-id'], mine, `${label}: echoed on ${echoed.status}`);
        if (echoed.status >= 400) {
          const problem = echoed.body as { instance?: string };
          assert.equal(problem.instance, `urn:corebank:request:${mine}`, label);
        }
      }
      // Request ids that could inject into logs or headers are replaced, not echoed.
      for (const hostile of ['has spaces', 'x'.repeat(65), 'a\tb', 'id;rm -rf', '../../x']) {
        const response = await t.request('GET', '/health/live', {
          headers: { 'x-request-id': hostile },
        });
        const id = String(response.headers['x-request-id'] ?? '');
        assert.notEqual(id, hostile);
        assert.match(id, /^[A-Za-z0-9._-]{1,64}$/);
      }
    });

    it('survives a seeded fuzz of every route: no 5xx, every 4xx a problem document, ledger ok', async () => {
      const seed = Number(process.env.FUZZ_SEED ?? 20_240_601);
      const iterations = Number(process.env.FUZZ_ITERATIONS ?? 400);
      const rng = new Rng(seed + (engine === 'postgres' ? 1 : 0));
      // Its own users: a fuzzed wrong PIN may lock them, which must not disturb other tests.
      const victim = await t.fundedCustomer('50.00');
      const other = await t.fundedCustomer('50.00');
      const victimJpy = (await t.openAccount(victim.user, { currency: 'JPY' })).accountNumber;

      const strings = [
        '',
        ' ',
        '1.00',
        '0',
        '-1',
        '1e3',
        'NaN',
        '12.345',
        DEFAULT_PIN,
        '0000',
        'USD',
        'JPY',
        'usd',
        'XXX',
        'checking',
        'savings',
        'cash',
        victim.account,
        other.account,
        victimJpy,
        '000000000000',
        "'; DROP TABLE postings; --",
        '<script>alert(1)</script>',
        '\u0000',
        '\n',
        '🚀🚀🚀',
        'Zoë',
        '\u202e',
        '\ud800',
        '__proto__',
        'constructor',
        'a@b.co',
        DEFAULT_PASSWORD,
        victim.user.username,
      ];
      const keys = [
        'amount',
        'pin',
        'toAccount',
        'currency',
        'description',
        'username',
        'password',
        'fullName',
        'email',
        'otp',
        'type',
        'nickname',
        'roles',
        'limit',
        'cursor',
        '__proto__',
        'constructor',
        '',
        'x'.repeat(300),
      ];
      const scalar = (): unknown => {
        switch (rng.int(10)) {
          case 0:
            return rng.int(2_000_000) - 1_000_000;
          case 1:
            return rng.next() * 10 ** rng.int(30);
          case 2:
            return rng.pick([0, -0, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER + 2]);
          case 3:
            return rng.chance(0.5);
          case 4:
            return null;
          case 5:
            // A huge string, sometimes above the body limit.
            return rng
              .pick(['a', '9', 'é', '🚀', '\\'])
              .repeat(rng.pick([200, 2_000, 9_000, 20_000]));
          case 6: {
            let text = '';
            const length = rng.int(40);
            for (let i = 0; i < length; i++) text += String.fromCodePoint(rng.int(0x2_0000));
            return text;
          }
          default:
            return rng.pick(strings);
        }
      };
      const value = (depth: number): unknown => {
        const roll = rng.int(10);
        if (depth < 3 && roll === 0)
          return Array.from({ length: rng.int(5) }, () => value(depth + 1));
        if (depth < 3 && roll === 1) {
          const object: Record<string, unknown> = {};
          for (let i = rng.int(5); i > 0; i--) object[rng.pick(keys)] = value(depth + 1);
          return object;
        }
        return scalar();
      };

      interface RouteSpec {
        method: Method;
        path: (segment: string) => string;
        fields: string[];
        param: boolean;
        query?: string[];
      }
      const routes: RouteSpec[] = [
        {
          method: 'POST',
          path: () => '/api/v1/auth/register',
          fields: ['username', 'password', 'fullName', 'email'],
          param: false,
        },
        {
          method: 'POST',
          path: () => '/api/v1/auth/login',
          fields: ['username', 'password', 'otp'],
          param: false,
        },
        { method: 'GET', path: () => '/api/v1/me', fields: [], param: false },
        { method: 'PUT', path: () => '/api/v1/me/pin', fields: ['password', 'pin'], param: false },
        {
          method: 'POST',
          path: () => '/api/v1/accounts',
          fields: ['currency', 'type', 'nickname'],
          param: false,
        },
        { method: 'GET', path: () => '/api/v1/accounts', fields: [], param: false },
        { method: 'GET', path: (s) => `/api/v1/accounts/${s}`, fields: [], param: true },
        {
          method: 'GET',
          path: (s) => `/api/v1/accounts/${s}/transactions`,
          fields: [],
          param: true,
          query: ['limit', 'cursor'],
        },
        {
          method: 'POST',
          path: (s) => `/api/v1/accounts/${s}/deposits`,
          fields: ['amount', 'currency', 'description'],
          param: true,
        },
        {
          method: 'POST',
          path: (s) => `/api/v1/accounts/${s}/withdrawals`,
          fields: ['amount', 'pin', 'currency', 'description'],
          param: true,
        },
        {
          method: 'POST',
          path: (s) => `/api/v1/accounts/${s}/transfers`,
          fields: ['toAccount', 'amount', 'pin', 'currency', 'description'],
          param: true,
        },
      ];
      // Lone surrogates cannot be percent-encoded; they are replaced, everything else kept.
      const encode = (text: string): string => encodeURIComponent(text.toWellFormed());
      const hostileSegments = [
        '%',
        '%zz',
        '%00',
        '..',
        '%2F',
        '%2e%2e',
        '%E0%A4%A',
        '%F0%9F%9A%80',
      ];
      const segment = (): string => {
        const roll = rng.int(10);
        if (roll < 4) return victim.account;
        if (roll === 4) return other.account;
        if (roll === 5) return victimJpy;
        if (roll === 6) return rng.pick(hostileSegments);
        const v = value(1);
        return encode(typeof v === 'string' ? v : JSON.stringify(v));
      };
      const queryString = (names: readonly string[]): string => {
        if (!rng.chance(0.6)) return '';
        const pairs: string[] = [];
        for (let i = 1 + rng.int(3); i > 0; i--) {
          const name = rng.chance(0.8) && names.length > 0 ? rng.pick(names) : rng.pick(keys);
          const v = value(2);
          const text = typeof v === 'string' ? v.slice(0, 4_000) : JSON.stringify(v);
          pairs.push(`${encode(name)}=${encode(text ?? '')}`);
        }
        return `?${pairs.join('&')}`;
      };
      const plausible: Record<string, readonly string[]> = {
        amount: ['1.00', '0.01', '5', '49.99', '50.00', '1000000.00', '12.345', '100', '0.10'],
        pin: [DEFAULT_PIN, DEFAULT_PIN, '0000', '123456'],
        toAccount: [victim.account, other.account, victimJpy, '000000000000'],
        currency: ['USD', 'JPY', 'EUR', 'KWD'],
        description: ['rent', 'Zoë 🚀', "'; DROP TABLE postings; --"],
        type: ['checking', 'savings'],
        nickname: ['main', '<b>x</b>'],
        username: [victim.user.username, other.user.username, 'fuzz.user', 'ab'],
        password: [DEFAULT_PASSWORD, 'wrong password 123'],
        fullName: ['Fuzz User'],
        email: ['fuzz@example.com', 'not-an-email'],
        otp: ['123456'],
      };
      const body = (
        fields: readonly string[],
      ): { body?: unknown; rawBody?: string; type?: string } => {
        const roll = rng.int(10);
        if (roll < 7 && fields.length > 0) {
          // roll < 3: a well-formed request with plausible values in every field (reaches the
          // business rules: funds, PINs, ownership, currencies); otherwise a mix.
          const wellFormed = roll < 3;
          const object: Record<string, unknown> = {};
          for (const field of fields) {
            if (wellFormed) {
              const likely = plausible[field];
              const optional = ['currency', 'description', 'otp', 'type', 'nickname'];
              if (likely !== undefined && !(optional.includes(field) && rng.chance(0.6))) {
                object[field] = rng.pick(likely);
              }
              continue;
            }
            if (!rng.chance(0.7)) continue;
            // Half the time a plausible value, so requests get past validation into the handlers.
            const likely = plausible[field];
            object[field] = likely !== undefined && rng.chance(0.6) ? rng.pick(likely) : value(1);
          }
          if (rng.chance(0.2)) object[rng.pick(keys)] = value(1);
          return { body: object };
        }
        if (roll < 8) return { body: value(0) };
        if (roll === 8) {
          return {
            rawBody: rng.pick([
              '{',
              '{"amount":',
              '[1,2',
              '"',
              '\u0000',
              '{"a":1}{"b":2}',
              'true false',
            ]),
            type: 'application/json',
          };
        }
        return {
          rawBody: JSON.stringify(value(0)) ?? 'null',
          type: rng.pick([
            'text/plain',
            'application/xml',
            'multipart/form-data; boundary=x',
            'application/json; charset=latin1',
            'application/vnd.api+json',
            '',
          ]),
        };
      };
      const tokens = (): string | undefined =>
        rng.pick([
          undefined,
          victim.user.token,
          victim.user.token,
          victim.user.token,
          victim.user.token,
          other.user.token,
          'not-a-jwt',
          'a.b.c',
          `${victim.user.token.slice(0, -4)}AAAA`,
        ]);

      const violations: string[] = [];
      const seen = new Map<string, number>();
      for (let i = 0; i < iterations; i++) {
        const route = rng.pick(routes);
        const url = `${route.path(route.param ? segment() : '')}${queryString(route.query ?? [])}`;
        const withBody = route.method !== 'GET' || rng.chance(0.1);
        const payload = withBody ? body(route.fields) : {};
        const headers: Record<string, string> = {};
        if (payload.type !== undefined && payload.type !== '')
          headers['content-type'] = payload.type;
        if (rng.chance(0.15)) headers['idempotency-key'] = String(scalar()).slice(0, 300);
        const token = tokens();
        const label = `#${i} ${route.method} ${url.slice(0, 100)} token=${token === undefined ? 'none' : token.slice(-6)} body=${(JSON.stringify(payload.body) ?? payload.rawBody ?? '').slice(0, 100)}`;
        let response: Response<unknown>;
        try {
          response = await t.request(route.method, url, {
            ...(token === undefined ? {} : { token }),
            ...(payload.body === undefined ? {} : { body: payload.body }),
            ...(payload.rawBody === undefined ? {} : { rawBody: payload.rawBody }),
            headers,
          });
        } catch (error) {
          violations.push(`${label}: request threw ${String(error)}`);
          continue;
        }
        const status = response.status;
        const contentType = String(response.headers['content-type'] ?? '');
        const problem = response.body as { code?: unknown; status?: unknown };
        let fault: string | null = null;
        if (status >= 500) fault = `server error ${status}`;
        else if (status < 200 || (status >= 300 && status < 400))
          fault = `unexpected status ${status}`;
        else if (status >= 400 && !PROBLEM_CONTENT_TYPE.test(contentType))
          fault = `${status} with content-type ${contentType}`;
        else if (
          status >= 400 &&
          (typeof problem.code !== 'string' ||
            !UPPER_SNAKE.test(problem.code) ||
            problem.status !== status)
        )
          fault = `${status} without a problem code`;
        else if (typeof response.headers['x-request-id'] !== 'string')
          fault = `${status} without x-request-id`;
        const kind = `${status} ${(problem as { code?: string }).code ?? contentType}`;
        seen.set(kind, (seen.get(kind) ?? 0) + 1);
        if (fault !== null)
          violations.push(
            `${label}\n    -> ${fault}: ${JSON.stringify(response.body).slice(0, 200)}`,
          );
      }

      const ledger = await verifyLedger(t.runtime.database.db);
      assert.equal(ledger.ok, true, ledger.ok ? '' : ledger.problem);
      assert.equal(ledger.counts.postings, ledger.counts.entries * 2n);
      // The fuzz must actually reach the handlers, not only the validators.
      const outcomes = [...seen.entries()].map(([kind, n]) => `${kind} x${n}`).join(', ');
      if (process.env.FUZZ_VERBOSE !== undefined) console.log(outcomes);
      assert.ok(seen.size >= 8, `too few distinct outcomes: ${outcomes}`);
      const kinds = [...seen.keys()];
      assert.ok(
        kinds.some((kind) => kind.startsWith('201 ')),
        `no request succeeded: ${outcomes}`,
      );
      assert.ok(
        kinds.some((kind) =>
          /INSUFFICIENT_FUNDS|INVALID_PIN|USER_LOCKED|CURRENCY_MISMATCH|SAME_ACCOUNT/.test(kind),
        ),
        `no request reached the money rules: ${outcomes}`,
      );
      const byFault = new Map<string, number>();
      for (const violation of violations) {
        const fault = violation.split('\n    -> ')[1]?.split(':')[0] ?? violation;
        byFault.set(fault, (byFault.get(fault) ?? 0) + 1);
      }
      assert.equal(
        violations.length,
        0,
        `seed ${seed}: ${violations.length} of ${iterations} responses broke the contract: ${JSON.stringify(Object.fromEntries(byFault))}\n(all outcomes: ${outcomes})\n${violations.slice(0, 8).join('\n')}`,
      );
    });
  });
}
