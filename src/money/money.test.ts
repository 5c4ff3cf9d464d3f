import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CorebankError } from '../errors.ts';
import {
  currencyScale,
  formatMinor,
  isSupportedCurrency,
  minorFromMajorUnits,
  parseAmount,
  SUPPORTED_CURRENCIES,
} from './money.ts';

/** One million major units, the limit the API contract uses as its example maximum. */
const USD_MAX_MINOR = 100_000_000n;

function assertValidationFailed(run: () => unknown, field: string, message: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof CorebankError, `expected a CorebankError, got ${String(error)}`);
    assert.equal(error.code, 'VALIDATION_FAILED');
    assert.equal(error.field, field);
    assert.equal(error.message, message);
    return true;
  });
}

/**
 * SplitMix64 over bigints: tiny, seeded and deterministic, so a failing round-trip case can be
 * reproduced from the seed and the iteration number.
 */
function splitMix64(seed: bigint): () => bigint {
  const mask = (1n << 64n) - 1n;
  let state = seed & mask;
  return () => {
    state = (state + 0x9e3779b97f4a7c15n) & mask;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
    return z ^ (z >> 31n);
  };
}

describe('currencyScale', () => {
  const expectedScales: ReadonlyArray<readonly [string, number]> = [
    ['USD', 2],
    ['EUR', 2],
    ['GBP', 2],
    ['CHF', 2],
    ['CAD', 2],
    ['AUD', 2],
    ['SEK', 2],
    ['NOK', 2],
    ['DKK', 2],
    ['PLN', 2],
    ['INR', 2],
    ['CNY', 2],
    ['SGD', 2],
    ['HKD', 2],
    ['NZD', 2],
    ['MXN', 2],
    ['BRL', 2],
    ['ZAR', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['ISK', 0],
    ['KWD', 3],
    ['BHD', 3],
    ['JOD', 3],
    ['OMR', 3],
    ['TND', 3],
  ];

  for (const [code, scale] of expectedScales) {
    test(`${code} has scale ${scale} and is supported`, () => {
      assert.equal(currencyScale(code), scale);
      assert.equal(isSupportedCurrency(code), true);
      assert.ok(SUPPORTED_CURRENCIES.includes(code));
    });
  }

  test('SUPPORTED_CURRENCIES lists exactly the table', () => {
    assert.deepEqual([...SUPPORTED_CURRENCIES].sort(), expectedScales.map(([code]) => code).sort());
    assert.ok(Object.isFrozen(SUPPORTED_CURRENCIES));
  });

  const malformed = 'currency must be a three-letter upper-case ISO 4217 code like "USD"';
  const unknownCodes: ReadonlyArray<{ code: string; message: string }> = [
    { code: 'usd', message: malformed },
    { code: 'Usd', message: malformed },
    { code: 'US', message: malformed },
    { code: 'USDD', message: malformed },
    { code: '', message: malformed },
    { code: ' USD', message: malformed },
    { code: 'USD ', message: malformed },
    { code: 'U5D', message: malformed },
    { code: 'constructor', message: malformed },
    { code: '__proto__', message: malformed },
    {
      code: 'XXX',
      message: `currency XXX is not supported; supported currencies are ${SUPPORTED_CURRENCIES.join(', ')}`,
    },
    {
      code: 'XAU',
      message: `currency XAU is not supported; supported currencies are ${SUPPORTED_CURRENCIES.join(', ')}`,
    },
  ];

  for (const { code, message } of unknownCodes) {
    test(`rejects currency ${JSON.stringify(code)}`, () => {
      assert.equal(isSupportedCurrency(code), false);
      assertValidationFailed(() => currencyScale(code), 'currency', message);
      assertValidationFailed(
        () => parseAmount('1', code, { maxMinor: USD_MAX_MINOR }),
        'currency',
        message,
      );
      assertValidationFailed(() => formatMinor(1n, code), 'currency', message);
      assertValidationFailed(() => minorFromMajorUnits(1n, code), 'currency', message);
    });
  }
});

describe('parseAmount rejects', () => {
  interface InvalidCase {
    name: string;
    input: unknown;
    currency?: string;
    maxMinor?: bigint;
    field?: string;
    message: string;
  }

  const usdShape = 'amount must be a decimal string like "125.50"';
  const notNumber = 'amount must be a decimal string like "125.50", not a number';
  const spaces = 'amount must not contain spaces or other whitespace';
  const signed = 'amount must be a positive decimal string without a sign, like "125.50"';
  const zero = 'amount must be greater than zero';
  const leadingZeros = 'amount must not have leading zeros';
  const usdDecimals = 'amount has more decimal places than USD allows (2)';

  const cases: InvalidCase[] = [
    // Values of the wrong JSON type.
    { name: 'a JSON number with a fraction', input: 125.5, message: notNumber },
    { name: 'a JSON integer', input: 100, message: notNumber },
    { name: 'the number zero', input: 0, message: notNumber },
    { name: 'the number NaN', input: Number.NaN, message: notNumber },
    { name: 'the number Infinity', input: Number.POSITIVE_INFINITY, message: notNumber },
    { name: 'a bigint', input: 12550n, message: notNumber },
    { name: 'null', input: null, message: usdShape },
    { name: 'undefined', input: undefined, message: usdShape },
    { name: 'true', input: true, message: usdShape },
    { name: 'false', input: false, message: usdShape },
    { name: 'an empty object', input: {}, message: usdShape },
    { name: 'an object holding an amount', input: { amount: '1.00' }, message: usdShape },
    { name: 'an empty array', input: [], message: usdShape },
    { name: 'an array holding an amount', input: ['1.00'], message: usdShape },
    // Blanks and whitespace anywhere.
    {
      name: 'the empty string',
      input: '',
      message: 'amount must not be empty; send a decimal string like "125.50"',
    },
    { name: 'a single space', input: ' ', message: spaces },
    { name: 'a leading space', input: ' 1.00', message: spaces },
    { name: 'a trailing space', input: '1.00 ', message: spaces },
    { name: 'an inner space', input: '1 000.00', message: spaces },
    { name: 'a leading tab', input: '\t1.00', message: spaces },
    { name: 'a trailing newline', input: '1.00\n', message: spaces },
    { name: 'a no-break space', input: '1\u00a0000', message: spaces },
    // Signs.
    { name: 'a plus sign', input: '+1.00', message: signed },
    { name: 'a minus sign', input: '-1.00', message: signed },
    { name: 'negative zero', input: '-0', message: signed },
    { name: 'positive zero', input: '+0', message: signed },
    // Zero in every form.
    { name: 'zero', input: '0', message: zero },
    { name: 'zero with two decimals', input: '0.00', message: zero },
    { name: 'zero with one decimal', input: '0.0', message: zero },
    // Exponents and JavaScript number spellings.
    { name: 'a lower-case exponent', input: '1e3', message: usdShape },
    { name: 'an upper-case exponent', input: '1E3', message: usdShape },
    { name: 'a fractional exponent', input: '1.5e2', message: usdShape },
    { name: 'a negative exponent', input: '1e-2', message: usdShape },
    { name: 'NaN', input: 'NaN', message: usdShape },
    { name: 'Infinity', input: 'Infinity', message: usdShape },
    { name: '-Infinity', input: '-Infinity', message: signed },
    { name: 'hex', input: '0x10', message: usdShape },
    { name: 'octal prefix', input: '0o10', message: usdShape },
    { name: 'binary prefix', input: '0b10', message: usdShape },
    // Misplaced or missing digits around the dot.
    {
      name: 'a leading dot',
      input: '.5',
      message: 'amount must have at least one digit before the decimal point, like "125.50"',
    },
    {
      name: 'a trailing dot',
      input: '5.',
      message: 'amount must have at least one digit after the decimal point, like "125.50"',
    },
    {
      name: 'a lone dot',
      input: '.',
      message: 'amount must have at least one digit before the decimal point, like "125.50"',
    },
    { name: 'two dots', input: '1..0', message: usdShape },
    { name: 'two decimal points', input: '1.0.0', message: usdShape },
    { name: 'a decimal comma', input: '1,50', message: usdShape },
    // Separators, symbols and letters.
    { name: 'a thousands separator', input: '1,000', message: usdShape },
    { name: 'a thousands separator with decimals', input: '1,000.00', message: usdShape },
    { name: 'an underscore separator', input: '1_000', message: usdShape },
    { name: 'an apostrophe separator', input: "1'000", message: usdShape },
    { name: 'a currency symbol', input: '$5', message: usdShape },
    { name: 'a currency suffix', input: '5USD', message: usdShape },
    { name: 'letters', input: 'abc', message: usdShape },
    // Digits outside ASCII.
    { name: 'Arabic-Indic digits', input: '\u0661\u0662', message: usdShape },
    { name: 'a fullwidth digit', input: '\uff11', message: usdShape },
    { name: 'an Arabic-Indic decimal digit', input: '1.\u0665', message: usdShape },
    { name: 'Devanagari digits', input: '\u0967\u0968', message: usdShape },
    { name: 'a zero-width space', input: '1\u200b0', message: usdShape },
    // Too many decimals for the currency, even when the extra digits are zeros.
    { name: 'three decimals for USD', input: '1.001', message: usdDecimals },
    { name: 'a trailing zero beyond USD precision', input: '1.500', message: usdDecimals },
    { name: 'decimals beyond USD precision on zero', input: '0.000', message: usdDecimals },
    { name: 'a leading dot with too many decimals', input: '.555', message: usdDecimals },
    {
      name: 'any decimals for JPY',
      input: '1.0',
      currency: 'JPY',
      message: 'amount has more decimal places than JPY allows (0)',
    },
    {
      name: 'a trailing dot for JPY',
      input: '1.',
      currency: 'JPY',
      message: 'amount has more decimal places than JPY allows (0)',
    },
    {
      name: 'four decimals for KWD',
      input: '1.2345',
      currency: 'KWD',
      message: 'amount has more decimal places than KWD allows (3)',
    },
    // Leading zeros.
    { name: 'leading zeros on an integer', input: '007', message: leadingZeros },
    { name: 'a leading zero on an integer', input: '01', message: leadingZeros },
    { name: 'leading zeros before a fraction', input: '00.50', message: leadingZeros },
    { name: 'a double zero', input: '00', message: leadingZeros },
    // Length is checked before any pattern work.
    {
      name: '41 digits',
      input: '1'.repeat(41),
      message: 'amount is too long (at most 40 characters)',
    },
    {
      name: '41 spaces (length wins over whitespace)',
      input: ' '.repeat(41),
      message: 'amount is too long (at most 40 characters)',
    },
    {
      name: 'a very long string',
      input: `1.${'0'.repeat(100_000)}`,
      message: 'amount is too long (at most 40 characters)',
    },
    // Above the configured maximum.
    {
      name: 'one cent above the USD maximum',
      input: '1000000.01',
      message: 'amount exceeds the maximum of 1000000.00 USD',
    },
    {
      name: 'far above the USD maximum',
      input: '99999999999999999999',
      message: 'amount exceeds the maximum of 1000000.00 USD',
    },
    {
      name: 'one yen above the JPY maximum',
      input: '1000001',
      currency: 'JPY',
      maxMinor: 1_000_000n,
      message: 'amount exceeds the maximum of 1000000 JPY',
    },
    {
      name: 'one fils above the KWD maximum',
      input: '12.346',
      currency: 'KWD',
      maxMinor: 12_345n,
      message: 'amount exceeds the maximum of 12.345 KWD',
    },
    // The caller's field name is reported, both in the field and in the message.
    {
      name: 'a number in a named field',
      input: 5,
      field: 'body.amount',
      message: 'body.amount must be a decimal string like "125.50", not a number',
    },
    {
      name: 'zero in a named field',
      input: '0.00',
      field: 'maxAmount',
      message: 'maxAmount must be greater than zero',
    },
    {
      name: 'too many decimals in a named field',
      input: '1.234',
      field: 'body.amount',
      message: 'body.amount has more decimal places than USD allows (2)',
    },
    {
      name: 'a JPY shape error in a named field',
      input: '1e3',
      currency: 'JPY',
      field: 'body.amount',
      message: 'body.amount must be a decimal string like "125"',
    },
    {
      name: 'a KWD shape error',
      input: 'abc',
      currency: 'KWD',
      message: 'amount must be a decimal string like "125.500"',
    },
  ];

  for (const c of cases) {
    test(`${c.name}: ${typeof c.input === 'string' ? JSON.stringify(c.input.slice(0, 50)) : String(c.input)}`, () => {
      const options =
        c.field === undefined
          ? { maxMinor: c.maxMinor ?? USD_MAX_MINOR }
          : { maxMinor: c.maxMinor ?? USD_MAX_MINOR, field: c.field };
      assertValidationFailed(
        () => parseAmount(c.input, c.currency ?? 'USD', options),
        c.field ?? 'amount',
        c.message,
      );
    });
  }

  test('a non-positive maxMinor is a programming error, not a validation failure', () => {
    for (const maxMinor of [0n, -1n]) {
      assert.throws(() => parseAmount('1.00', 'USD', { maxMinor }), RangeError);
    }
  });
});

describe('parseAmount accepts', () => {
  interface ValidCase {
    input: string;
    currency: string;
    maxMinor?: bigint;
    expected: bigint;
  }

  const huge = 10n ** 40n;
  const cases: ValidCase[] = [
    // Scale 2.
    { input: '0.01', currency: 'USD', expected: 1n },
    { input: '0.1', currency: 'USD', expected: 10n },
    { input: '0.5', currency: 'EUR', expected: 50n },
    { input: '1', currency: 'USD', expected: 100n },
    { input: '1.5', currency: 'GBP', expected: 150n },
    { input: '10', currency: 'USD', expected: 1000n },
    { input: '10.05', currency: 'USD', expected: 1005n },
    { input: '100.00', currency: 'USD', expected: 10000n },
    { input: '125.50', currency: 'USD', expected: 12550n },
    { input: '125.5', currency: 'USD', expected: 12550n },
    { input: '999999.99', currency: 'USD', expected: 99999999n },
    { input: '1000000.00', currency: 'USD', expected: 100000000n },
    { input: '1000000', currency: 'USD', expected: 100000000n },
    // Scale 0.
    { input: '1', currency: 'JPY', expected: 1n },
    { input: '100', currency: 'JPY', expected: 100n },
    { input: '50000', currency: 'KRW', expected: 50000n },
    { input: '7', currency: 'ISK', expected: 7n },
    // Scale 3.
    { input: '0.001', currency: 'KWD', expected: 1n },
    { input: '0.01', currency: 'KWD', expected: 10n },
    { input: '1.05', currency: 'BHD', expected: 1050n },
    { input: '1.5', currency: 'JOD', expected: 1500n },
    { input: '12.345', currency: 'OMR', expected: 12345n },
    { input: '3', currency: 'TND', expected: 3000n },
    // Beyond Number.MAX_SAFE_INTEGER, where a float would already have lost the last digit.
    { input: '90071992547409.93', currency: 'USD', maxMinor: huge, expected: 9007199254740993n },
    { input: '9007199254740993', currency: 'JPY', maxMinor: huge, expected: 9007199254740993n },
    {
      input: '9007199254740.993',
      currency: 'KWD',
      maxMinor: huge,
      expected: 9007199254740993n,
    },
    {
      // Exactly 40 characters: the longest string accepted at all.
      input: '1234567890123456789012345678901234567.89',
      currency: 'USD',
      maxMinor: huge,
      expected: 123456789012345678901234567890123456789n,
    },
  ];

  for (const c of cases) {
    test(`${JSON.stringify(c.input)} ${c.currency} is ${c.expected}n`, () => {
      assert.equal(parseAmount(c.input, c.currency, { maxMinor: c.maxMinor ?? huge }), c.expected);
    });
  }
});

describe('parseAmount maximum boundary', () => {
  const boundaries: ReadonlyArray<{
    currency: string;
    maxMinor: bigint;
    atMax: string;
    aboveMax: string;
  }> = [
    { currency: 'USD', maxMinor: 100_000_000n, atMax: '1000000.00', aboveMax: '1000000.01' },
    { currency: 'USD', maxMinor: 1n, atMax: '0.01', aboveMax: '0.02' },
    { currency: 'JPY', maxMinor: 1_000_000n, atMax: '1000000', aboveMax: '1000001' },
    { currency: 'KWD', maxMinor: 12_345n, atMax: '12.345', aboveMax: '12.346' },
    {
      currency: 'USD',
      maxMinor: 9007199254740993n,
      atMax: '90071992547409.93',
      aboveMax: '90071992547409.94',
    },
  ];

  for (const b of boundaries) {
    test(`${b.currency} maxMinor ${b.maxMinor}n: ${b.atMax} accepted, ${b.aboveMax} rejected`, () => {
      assert.equal(parseAmount(b.atMax, b.currency, { maxMinor: b.maxMinor }), b.maxMinor);
      assertValidationFailed(
        () => parseAmount(b.aboveMax, b.currency, { maxMinor: b.maxMinor }),
        'amount',
        `amount exceeds the maximum of ${b.atMax} ${b.currency}`,
      );
    });
  }
});

describe('formatMinor', () => {
  const cases: ReadonlyArray<readonly [bigint, string, string]> = [
    [12550n, 'USD', '125.50'],
    [5n, 'USD', '0.05'],
    [50n, 'USD', '0.50'],
    [100n, 'USD', '1.00'],
    [1n, 'USD', '0.01'],
    [0n, 'USD', '0.00'],
    [-5n, 'USD', '-0.05'],
    [-12550n, 'USD', '-125.50'],
    [-100n, 'USD', '-1.00'],
    [100000000n, 'EUR', '1000000.00'],
    [9007199254740993n, 'USD', '90071992547409.93'],
    [-9007199254740993n, 'USD', '-90071992547409.93'],
    [10n ** 30n, 'USD', `1${'0'.repeat(28)}.00`],
    [100n, 'JPY', '100'],
    [0n, 'JPY', '0'],
    [1n, 'KRW', '1'],
    [-100n, 'JPY', '-100'],
    [1n, 'KWD', '0.001'],
    [10n, 'KWD', '0.010'],
    [1234n, 'KWD', '1.234'],
    [0n, 'KWD', '0.000'],
    [-1n, 'BHD', '-0.001'],
    [-1234n, 'KWD', '-1.234'],
  ];

  for (const [amountMinor, currency, expected] of cases) {
    test(`${amountMinor}n ${currency} is ${JSON.stringify(expected)}`, () => {
      assert.equal(formatMinor(amountMinor, currency), expected);
    });
  }
});

describe('minorFromMajorUnits', () => {
  const cases: ReadonlyArray<readonly [bigint, string, bigint]> = [
    [1_000_000n, 'USD', 100_000_000n],
    [1_000_000n, 'JPY', 1_000_000n],
    [1_000_000n, 'KWD', 1_000_000_000n],
    [0n, 'USD', 0n],
    [1n, 'TND', 1000n],
    [90071992547409n, 'USD', 9007199254740900n],
  ];

  for (const [major, currency, expected] of cases) {
    test(`${major} ${currency} is ${expected}n minor`, () => {
      assert.equal(minorFromMajorUnits(major, currency), expected);
    });
  }
});

describe('round trip', () => {
  test('formatMinor and parseAmount invert each other for 3,000 seeded random amounts', () => {
    const seed = 0x5eed_c0de_ba5en;
    const next = splitMix64(seed);
    const maxMinor = 1n << 101n;
    for (let iteration = 0; iteration < 3_000; iteration += 1) {
      const currency = SUPPORTED_CURRENCIES[Number(next() % BigInt(SUPPORTED_CURRENCIES.length))];
      assert.ok(currency !== undefined);
      // A random bit length first, so small, mid-sized and huge amounts are all well covered.
      const bits = (next() % 100n) + 1n;
      const amountMinor = (((next() << 64n) | next()) % (1n << bits)) + 1n;
      const text = formatMinor(amountMinor, currency);
      const context = `seed ${seed}, iteration ${iteration}, ${amountMinor}n ${currency}`;
      assert.equal(parseAmount(text, currency, { maxMinor }), amountMinor, context);
      assert.equal(formatMinor(parseAmount(text, currency, { maxMinor }), currency), text, context);
      assert.equal(formatMinor(-amountMinor, currency), `-${text}`, context);
    }
  });
});
