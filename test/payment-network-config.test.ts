import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { ClearingConfigError, loadClearingHouseConfig } from '../src/clearing-house/config.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { PaymentNetworkClient } from '../src/payments/network-client.ts';

const SECRET = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const NETWORK = {
  PAYMENT_NETWORK_URL: 'https://network.example',
  PAYMENT_NETWORK_CLIENT_ID: 'corebank',
  PAYMENT_NETWORK_CLIENT_SECRET: 'a-long-client-secret',
  PAYMENT_NETWORK_WEBHOOK_SECRET: SECRET,
};

describe('config: BANK_CODE and the payment network', () => {
  it('defaults to CORBUS33 and no network', () => {
    const config = loadConfig({});
    assert.equal(config.bankCode, 'CORBUS33');
    assert.equal(config.paymentNetwork, undefined);
  });

  it('takes 8-character BIC-style codes only', () => {
    for (const good of ['CORBUS33', 'ABCDGB2L', 'SBOXUS33']) {
      assert.equal(loadConfig({ BANK_CODE: good }).bankCode, good);
    }
    for (const bad of [
      'CORBUS3',
      'CORBUS333',
      'corbus33',
      'CORB1S33',
      '12CDUS33',
      'CORBUS3!',
      'CORBUS33XXX',
    ]) {
      assert.throws(() => loadConfig({ BANK_CODE: bad }), ConfigError, bad);
    }
  });

  it('needs all four network variables together, an https URL and a whsec_ secret', () => {
    assert.deepEqual(loadConfig(NETWORK).paymentNetwork, {
      url: 'https://network.example',
      clientId: 'corebank',
      clientSecret: 'a-long-client-secret',
      webhookSecret: SECRET,
    });
    assert.equal(
      loadConfig({ ...NETWORK, PAYMENT_NETWORK_URL: 'http://127.0.0.1:4000' }).paymentNetwork?.url,
      'http://127.0.0.1:4000',
      'plain HTTP on loopback (the sandbox) is allowed',
    );
    const { PAYMENT_NETWORK_CLIENT_SECRET: _omitted, ...withoutSecret } = NETWORK;
    assert.throws(() => loadConfig(withoutSecret), /PAYMENT_NETWORK_CLIENT_SECRET/);
    assert.throws(
      () => loadConfig({ PAYMENT_NETWORK_WEBHOOK_SECRET: SECRET }),
      /needs PAYMENT_NETWORK_URL/,
    );
    assert.throws(
      () => loadConfig({ ...NETWORK, PAYMENT_NETWORK_URL: 'http://network.example' }),
      /https/,
    );
    assert.throws(() => loadConfig({ ...NETWORK, PAYMENT_NETWORK_URL: 'not a url' }), ConfigError);
    assert.throws(
      () => loadConfig({ ...NETWORK, PAYMENT_NETWORK_WEBHOOK_SECRET: 'plain-secret' }),
      /whsec_/,
    );
  });

  it('the client itself refuses plain HTTP to anything but loopback', () => {
    const options = { clientId: 'c', clientSecret: 's' };
    assert.throws(
      () => new PaymentNetworkClient({ ...options, baseUrl: 'http://network.example' }),
      /https/,
    );
    assert.doesNotThrow(
      () => new PaymentNetworkClient({ ...options, baseUrl: 'http://localhost:4000' }),
    );
  });
});

describe('clearing-house config', () => {
  const member = {
    bankCode: 'CORBUS33',
    clientId: 'corebank',
    clientSecret: 'a-long-client-secret',
    webhookUrl: 'http://127.0.0.1:3000/api/v1/network/events',
    webhookSecret: SECRET,
  };

  it('parses members and defaults', () => {
    const config = loadClearingHouseConfig({ CLEARING_MEMBERS: JSON.stringify([member]) });
    assert.deepEqual(config.members, [member]);
    assert.equal(config.port, 4000);
    assert.equal(config.sandboxBankCode, 'SBOXUS33');
    assert.equal(config.databaseFile, ':memory:');
    assert.equal(config.controlToken, undefined);
    assert.equal(
      loadClearingHouseConfig({ CLEARING_SANDBOX_BANK_CODE: 'off' }).sandboxBankCode,
      undefined,
    );
  });

  it('refuses members it could not serve safely', () => {
    const cases: Array<[string, unknown]> = [
      ['not JSON', '[{'],
      ['not an array', { member }],
      ['bad bank code', [{ ...member, bankCode: 'CORB' }]],
      ['short client secret', [{ ...member, clientSecret: 'short' }]],
      ['bad webhook URL', [{ ...member, webhookUrl: 'ftp://x' }]],
      ['bad webhook secret', [{ ...member, webhookSecret: 'whsec_c2hvcnQ=' }]],
      ['missing field', [{ ...member, clientId: undefined }]],
      ['duplicate bank', [member, { ...member, clientId: 'other' }]],
      ['duplicate client', [member, { ...member, bankCode: 'OTHRUS33' }]],
      ['member is the sandbox', [{ ...member, bankCode: 'SBOXUS33' }]],
    ];
    for (const [what, members] of cases) {
      const raw = typeof members === 'string' ? members : JSON.stringify(members);
      assert.throws(
        () => loadClearingHouseConfig({ CLEARING_MEMBERS: raw }),
        ClearingConfigError,
        what,
      );
    }
    assert.throws(
      () => loadClearingHouseConfig({ CLEARING_CONTROL_TOKEN: 'short' }),
      ClearingConfigError,
    );
  });
});
