import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { createUser } from '../src/auth/auth-service.ts';
import { passwordProblem } from '../src/auth/passwords/policy.ts';
import { CorebankError } from '../src/errors.ts';
import {
  assertProblem,
  auditEvents,
  eventually,
  loginPair,
  me,
  refresh,
} from './support/auth-helpers.ts';
import { createTestApp, DEFAULT_PASSWORD, ENGINES, type TestApp } from './support/harness.ts';

/**
 * Passwords after NIST SP 800-63B: the policy, changing the password (other sessions end),
 * and password reset by e-mail delivered over real SMTP to a server the test runs.
 */

describe('password policy (pure)', () => {
  const refused: ReadonlyArray<[string, string]> = [
    ['Password1234', 'common'],
    ['password1234', 'common'],
    ['qwertyuiopqwerty', 'keyboard walk'],
    ['123456789012', 'digit sequence'],
    ['aaaaaaaaaaaa', 'one character repeated'],
    ['abcabcabcabc', 'a unit repeated'],
    ['monkey123456', 'word + digits'],
    ['P@ssw0rd2024!!', 'leet + year'],
    ['Football1987!', 'word + year'],
    ['iloveyou12345', 'phrase + digits'],
    ['passwordpassword', 'doubled word'],
    ['zyxwvutsrqpo', 'alphabet backwards'],
    ['alice.w-secret-99', 'contains the username'],
    ['my mailbox is wonderland', 'contains the e-mail name'],
    ['abababababababab1', 'only two different characters'],
    ['           x y z', 'mostly spaces, three letters'],
  ];
  for (const [password, why] of refused) {
    it(`refuses ${JSON.stringify(password)} (${why})`, () => {
      assert.notEqual(
        passwordProblem(password, { username: 'alice.w', email: 'wonderland@example.com' }),
        null,
      );
    });
  }
  const accepted = [
    DEFAULT_PASSWORD,
    'kettle-moss-',
    'Tr0ub4dor&3 on the moon',
    'ünïcödé passphrase ✓',
    'nine lives of a tabby',
  ];
  for (const password of accepted) {
    it(`accepts ${JSON.stringify(password)} (no composition rules)`, () => {
      assert.equal(passwordProblem(password, { username: 'alice.w' }), null);
    });
  }
  it('bounds length at 12 and 128 characters', () => {
    assert.notEqual(passwordProblem('kettle-moss'), null);
    assert.equal(passwordProblem('kettle-moss-'), null);
    const long = 'pale blue dot, seen from six billion kilometres; '.repeat(3);
    assert.equal(passwordProblem(long.slice(0, 128)), null);
    assert.notEqual(passwordProblem(long.slice(0, 129)), null);
  });
});

const QUIET = { RATE_LIMITS: 'off' };

for (const engine of ENGINES) {
  describe(`password change [${engine}]`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp(engine, QUIET);
    });
    after(() => t.close());

    const change = (token: string, body: Record<string, unknown>) =>
      t.request('POST', '/api/v1/me/password', { token, body });

    it('register and the CLI path refuse common and name-based passwords (400 field password)', async () => {
      const name = t.uniqueName('weak');
      for (const password of ['Password1234', `${name}-2024-x`, 'aaaaaaaaaaaaaa']) {
        const response = await t.request('POST', '/api/v1/auth/register', {
          body: { username: name, password, fullName: 'W', email: `${name}@example.com` },
        });
        assertProblem(response, 400, 'VALIDATION_FAILED', 'password');
      }
      await assert.rejects(
        createUser(
          t.runtime.database.db,
          { username: name, password: 'qwerty123456', fullName: 'Ops', email: `${name}@b.example` },
          ['admin'],
        ),
        (error: unknown) => error instanceof CorebankError && error.field === 'password',
      );
      const count = await t.runtime.database.db
        .selectFrom('users')
        .select('id')
        .where('username', '=', name)
        .execute();
      assert.equal(count.length, 0, 'no user was created');
    });

    it('changes the password: 204, the caller stays, every other session ends', async () => {
      const user = await t.customer({ pin: null });
      const mine = await loginPair(t, user.username, DEFAULT_PASSWORD);
      const other = await loginPair(t, user.username, DEFAULT_PASSWORD);
      assert.equal((await me(t, other.accessToken)).status, 200);
      const newPassword = 'seven silver swans swimming';
      const response = await change(mine.accessToken, {
        currentPassword: DEFAULT_PASSWORD,
        newPassword,
      });
      assert.equal(response.status, 204, JSON.stringify(response.body));
      // Other sessions: access and refresh tokens are dead at once (user.token is one too).
      assertProblem(await me(t, other.accessToken), 401, 'UNAUTHENTICATED');
      assertProblem(await me(t, user.token), 401, 'UNAUTHENTICATED');
      assertProblem(await refresh(t, other.refreshToken), 401, 'UNAUTHENTICATED');
      // The caller's own login goes on, including its refresh token.
      assert.equal((await me(t, mine.accessToken)).status, 200);
      assert.equal((await refresh(t, mine.refreshToken)).status, 200);
      // Old password out, new one in.
      assertProblem(
        await t.request('POST', '/api/v1/auth/login', {
          body: { username: user.username, password: DEFAULT_PASSWORD },
        }),
        401,
        'INVALID_CREDENTIALS',
      );
      await loginPair(t, user.username, newPassword);
      const events = await auditEvents(t, 'auth.password_changed');
      assert.ok(events.some((e) => e.target === `user:${user.id}` && e.outcome === 'success'));
      assert.ok(events.every((e) => !String(e.details).includes(newPassword)));
    });

    it('needs the right current password (401 field currentPassword) and changes nothing', async () => {
      const user = await t.customer({ pin: null });
      const other = await loginPair(t, user.username, DEFAULT_PASSWORD);
      const response = await change(user.token, {
        currentPassword: 'not my password at all',
        newPassword: 'seven silver swans swimming',
      });
      assertProblem(response, 401, 'INVALID_CREDENTIALS', 'currentPassword');
      assert.equal((await me(t, other.accessToken)).status, 200);
      await loginPair(t, user.username, DEFAULT_PASSWORD);
    });

    it('refuses a weak or unchanged new password (400 field newPassword)', async () => {
      const user = await t.customer({ pin: null });
      for (const newPassword of ['password1234', DEFAULT_PASSWORD, `${user.username}!!`]) {
        const response = await change(user.token, {
          currentPassword: DEFAULT_PASSWORD,
          newPassword,
        });
        assertProblem(response, 400, 'VALIDATION_FAILED', 'newPassword');
      }
      await loginPair(t, user.username, DEFAULT_PASSWORD);
    });

    it("needs a live access token; another customer's token changes only their own password", async () => {
      assertProblem(
        await t.request('POST', '/api/v1/me/password', {
          body: { currentPassword: DEFAULT_PASSWORD, newPassword: 'seven silver swans swimming' },
        }),
        401,
        'UNAUTHENTICATED',
      );
      const alice = await t.customer({ pin: null });
      const bob = await t.customer({ pin: null });
      // Bob knows the shared default password, but his token only ever acts on Bob.
      const response = await change(bob.token, {
        currentPassword: DEFAULT_PASSWORD,
        newPassword: 'bobs own brand new phrase',
      });
      assert.equal(response.status, 204);
      await loginPair(t, alice.username, DEFAULT_PASSWORD);
      assert.equal((await me(t, alice.token)).status, 200);
    });

    it('PIN changes are audited (success and wrong password)', async () => {
      const user = await t.customer({ pin: null });
      const wrong = await t.request('PUT', '/api/v1/me/pin', {
        token: user.token,
        body: { password: 'definitely wrong one', pin: '1357' },
      });
      assertProblem(wrong, 401, 'INVALID_CREDENTIALS', 'password');
      const ok = await t.request('PUT', '/api/v1/me/pin', {
        token: user.token,
        body: { password: DEFAULT_PASSWORD, pin: '1357' },
      });
      assert.equal(ok.status, 204);
      const events = (await auditEvents(t, 'auth.pin_changed')).filter(
        (e) => e.target === `user:${user.id}`,
      );
      assert.deepEqual(
        events.map((e) => e.outcome),
        ['failure', 'success'],
      );
      assert.ok(events.every((e) => !String(e.details).includes('1357')));
    });
  });
}

interface Mail {
  to: string[];
  raw: string;
}

async function startSmtp(): Promise<{ server: SMTPServer; port: number; inbox: Mail[] }> {
  const inbox: Mail[] = [];
  const server = new SMTPServer({
    // A local test server: no TLS certificate to offer and no login to check.
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        inbox.push({
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { server, port, inbox };
}

function tokenIn(mail: Mail): string {
  // The body is plain text; the token is the line of 43 base64url characters.
  const match = /^([A-Za-z0-9_-]{43})\r?$/m.exec(mail.raw);
  assert.ok(match?.[1] !== undefined, `no token in mail:\n${mail.raw}`);
  return match[1];
}

for (const engine of ENGINES) {
  describe(`password reset over SMTP [${engine}]`, () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    before(async () => {
      smtp = await startSmtp();
      t = await createTestApp(engine, {
        ...QUIET,
        SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
        MAIL_FROM: 'Corebank <no-reply@bank.example>',
        MAIL_POLL_INTERVAL_MS: '100',
      });
    });
    after(async () => {
      await t.close();
      await new Promise<void>((resolve) => smtp.server.close(() => resolve()));
    });

    const requestReset = (email: string) =>
      t.request('POST', '/api/v1/auth/password-reset/request', { body: { email } });
    const confirm = (token: string, newPassword: string) =>
      t.request('POST', '/api/v1/auth/password-reset/confirm', { body: { token, newPassword } });
    const mailTo = async (address: string): Promise<Mail> => {
      let found: Mail | undefined;
      const arrived = await eventually(async () => {
        found = smtp.inbox.find((mail) => mail.to.includes(address));
        return found !== undefined;
      }, 5000);
      assert.ok(arrived && found !== undefined, `no mail reached ${address}`);
      return found;
    };

    it('the reset e-mail arrives, its token works once and ends every session', async () => {
      const alice = await t.customer({ pin: null });
      const email = `${alice.username}@example.com`;
      const other = await loginPair(t, alice.username, DEFAULT_PASSWORD);
      const response = await requestReset(email.toUpperCase());
      assert.equal(response.status, 202, JSON.stringify(response.body));
      const mail = await mailTo(email);
      assert.match(mail.raw, /^From: .*no-reply@bank\.example/m);
      const token = tokenIn(mail);

      // A weak password is refused without spending the token.
      assertProblem(await confirm(token, 'password1234'), 400, 'VALIDATION_FAILED', 'newPassword');

      const newPassword = 'reset to a fresh long phrase';
      const done = await confirm(token, newPassword);
      assert.equal(done.status, 204, JSON.stringify(done.body));
      for (const access of [alice.token, other.accessToken]) {
        assertProblem(await me(t, access), 401, 'UNAUTHENTICATED');
      }
      assertProblem(await refresh(t, other.refreshToken), 401, 'UNAUTHENTICATED');
      await loginPair(t, alice.username, newPassword);

      // Single use: the same token again is refused and changes nothing.
      assertProblem(
        await confirm(token, 'yet another long phrase'),
        400,
        'RESET_TOKEN_INVALID',
        'token',
      );
      await loginPair(t, alice.username, newPassword);

      // Only a hash is stored, and the delivered message keeps no copy of the token.
      const stored = await t.runtime.database.db
        .selectFrom('password_reset_tokens')
        .select(['token_hash', 'used_at'])
        .where('user_id', '=', alice.id)
        .execute();
      assert.equal(stored.length, 1);
      assert.notEqual(stored[0]?.token_hash, token);
      assert.notEqual(stored[0]?.used_at, null);
      const outbox = await t.runtime.database.db
        .selectFrom('email_outbox')
        .select(['body_text', 'sent_at'])
        .where('recipient', '=', email)
        .execute();
      assert.ok(outbox.every((row) => row.sent_at !== null && !row.body_text.includes(token)));

      const requested = await auditEvents(t, 'auth.password_reset_requested');
      assert.ok(requested.some((e) => e.target === `user:${alice.id}`));
      const reset = await auditEvents(t, 'auth.password_reset');
      assert.ok(reset.some((e) => e.target === `user:${alice.id}` && e.outcome === 'success'));
      assert.ok(reset.some((e) => e.outcome === 'failure'));
    });

    it('answers an unknown address exactly like a known one, and sends nothing', async () => {
      const bob = await t.customer({ pin: null });
      const known = await requestReset(`${bob.username}@example.com`);
      const unknown = await requestReset(`nobody-${bob.username}@example.com`);
      assert.equal(known.status, 202);
      assert.equal(unknown.status, 202);
      assert.deepEqual(unknown.body, known.body);
      assert.equal(unknown.headers['content-type'], known.headers['content-type']);
      await mailTo(`${bob.username}@example.com`);
      const queued = await t.runtime.database.db
        .selectFrom('email_outbox')
        .select('id')
        .where('recipient', '=', `nobody-${bob.username}@example.com`)
        .execute();
      assert.equal(queued.length, 0);
      assert.ok(!smtp.inbox.some((mail) => mail.to.includes(`nobody-${bob.username}@example.com`)));
    });

    it('an expired token is refused; a made-up one too; neither changes the password', async () => {
      const carol = await t.customer({ pin: null });
      const email = `${carol.username}@example.com`;
      await requestReset(email);
      const token = tokenIn(await mailTo(email));
      await t.runtime.database.db
        .updateTable('password_reset_tokens')
        .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
        .where('user_id', '=', carol.id)
        .execute();
      assertProblem(
        await confirm(token, 'a phrase after expiry'),
        400,
        'RESET_TOKEN_INVALID',
        'token',
      );
      assertProblem(
        await confirm('A'.repeat(43), 'a phrase from nowhere at all'),
        400,
        'RESET_TOKEN_INVALID',
        'token',
      );
      await loginPair(t, carol.username, DEFAULT_PASSWORD);
      assert.equal((await me(t, carol.token)).status, 200);
    });

    it("another customer cannot reset someone else's password: the token goes to the owner only", async () => {
      const dave = await t.customer({ pin: null });
      const mallory = await t.customer({ pin: null });
      // Mallory asks for Dave's reset: the mail goes to Dave's address, not to Mallory.
      await requestReset(`${dave.username}@example.com`);
      const mail = await mailTo(`${dave.username}@example.com`);
      assert.deepEqual(mail.to, [`${dave.username}@example.com`]);
      assert.ok(!smtp.inbox.some((m) => m.to.includes(`${mallory.username}@example.com`)));
      // Mallory's own reset token resets Mallory, never Dave.
      await requestReset(`${mallory.username}@example.com`);
      const mine = tokenIn(await mailTo(`${mallory.username}@example.com`));
      assert.equal((await confirm(mine, 'mallory picks a new phrase')).status, 204);
      await loginPair(t, dave.username, DEFAULT_PASSWORD);
      await loginPair(t, mallory.username, 'mallory picks a new phrase');
    });

    it('a reset request ends no session and changes nothing until confirmed', async () => {
      const erin = await t.customer({ pin: null });
      await requestReset(`${erin.username}@example.com`);
      await mailTo(`${erin.username}@example.com`);
      assert.equal((await me(t, erin.token)).status, 200);
      await loginPair(t, erin.username, DEFAULT_PASSWORD);
    });
  });
}
