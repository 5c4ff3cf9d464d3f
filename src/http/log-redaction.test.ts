import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CENSOR, redactLogFields, SECRET_FIELDS } from './log-redaction.ts';

describe('log redaction', () => {
  it('censors every credential field at the top and one level down', () => {
    for (const name of SECRET_FIELDS) {
      const top = redactLogFields({ [name]: 'secret-value', other: 1 });
      assert.equal(top[name], CENSOR, name);
      assert.equal(top.other, 1);
      const nested = redactLogFields({ body: { [name]: 'secret-value', keep: 'x' } });
      assert.deepEqual(nested.body, { [name]: CENSOR, keep: 'x' }, name);
    }
  });

  it('censors the authorization and cookie headers of a logged request', () => {
    const req = { method: 'GET', headers: { authorization: 'Bearer a.b.c', cookie: 'x=y', a: 1 } };
    const out = redactLogFields({ req }) as { req: { headers: Record<string, unknown> } };
    assert.deepEqual(out.req.headers, { authorization: CENSOR, cookie: CENSOR, a: 1 });
  });

  it("never changes the caller's objects, and keeps an Error an Error", () => {
    const error = Object.assign(new Error('boom'), { pin: '1234' });
    const body = { password: 'hunter2' };
    const out = redactLogFields({ err: error, body });
    assert.equal(error.pin, '1234');
    assert.equal(body.password, 'hunter2');
    const copied = out.err as Error & { pin: string };
    assert.ok(copied instanceof Error);
    assert.equal(copied.message, 'boom');
    assert.equal(copied.stack, error.stack);
    assert.equal(copied.pin, CENSOR);
  });

  it('returns the same object when there is nothing to censor (no copy per line)', () => {
    const fields = { req: { method: 'GET', url: '/health/live' }, responseTime: 1 };
    assert.equal(redactLogFields(fields), fields);
  });

  it('goes no deeper than the old wildcard paths did, and no shallower', () => {
    const deep = { a: { b: { password: 'kept' } } };
    assert.equal(redactLogFields(deep), deep);
  });
});
