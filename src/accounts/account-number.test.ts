import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  accountNumberProblem,
  generateAccountNumber,
  isValidAccountNumber,
} from './account-number.ts';

const WRONG_LENGTH = 'account number must be 12 digits';
const BAD_CHECK = 'account number check digits do not match; check for a typo';

/**
 * Valid numbers computed independently (98 - (body * 100 mod 97), outside this code base), plus
 * freshly generated ones, so the typo tests do not depend only on the generator being right.
 */
const KNOWN_VALID = ['123456789092', '100000000093', '999999999951', '500000001722'];
const SAMPLES = [...KNOWN_VALID, ...Array.from({ length: 46 }, () => generateAccountNumber())];

describe('known valid account numbers', () => {
  for (const accountNumber of KNOWN_VALID) {
    test(`${accountNumber} is valid`, () => {
      assert.equal(isValidAccountNumber(accountNumber), true);
      assert.equal(accountNumberProblem(accountNumber), null);
    });
  }
});

describe('generateAccountNumber', () => {
  test('generates valid 12-digit numbers that never start with 0', () => {
    for (let i = 0; i < 1_000; i += 1) {
      const accountNumber = generateAccountNumber();
      assert.match(accountNumber, /^[1-9][0-9]{11}$/);
      assert.equal(isValidAccountNumber(accountNumber), true, accountNumber);
      assert.equal(BigInt(accountNumber) % 97n, 1n, accountNumber);
    }
  });

  test('10,000 generated numbers are practically distinct', () => {
    const count = 10_000;
    const seen = new Set<string>();
    for (let i = 0; i < count; i += 1) {
      seen.add(generateAccountNumber());
    }
    // With 9e9 possible bodies the expected number of collisions among 10,000 draws is about
    // 0.006 (birthday bound), so more than one collision would point to a broken generator.
    assert.ok(seen.size >= count - 1, `only ${seen.size} distinct numbers out of ${count}`);
  });
});

describe('every single-digit substitution is rejected', () => {
  for (const accountNumber of SAMPLES) {
    test(`all 108 substitutions of ${accountNumber}`, () => {
      let checked = 0;
      for (let position = 0; position < accountNumber.length; position += 1) {
        for (const digit of '0123456789') {
          if (accountNumber[position] === digit) {
            continue;
          }
          const typo = `${accountNumber.slice(0, position)}${digit}${accountNumber.slice(position + 1)}`;
          assert.equal(isValidAccountNumber(typo), false, `${typo} (position ${position})`);
          assert.equal(accountNumberProblem(typo), BAD_CHECK, typo);
          checked += 1;
        }
      }
      assert.equal(checked, 12 * 9);
    });
  }
});

describe('every adjacent transposition of differing digits is rejected', () => {
  for (const accountNumber of SAMPLES) {
    test(`all adjacent transpositions of ${accountNumber}`, () => {
      for (let position = 0; position + 1 < accountNumber.length; position += 1) {
        const left = accountNumber[position];
        const right = accountNumber[position + 1];
        if (left === right) {
          continue;
        }
        const swapped = `${accountNumber.slice(0, position)}${right}${left}${accountNumber.slice(position + 2)}`;
        assert.equal(isValidAccountNumber(swapped), false, `${swapped} (position ${position})`);
        assert.equal(accountNumberProblem(swapped), BAD_CHECK, swapped);
      }
    });
  }

  test('a number with a transposition at every position is covered', () => {
    // 123456789092 has differing neighbours everywhere, so all 11 swaps are exercised at least
    // once regardless of what the random samples happen to contain.
    const accountNumber = '123456789092';
    let differing = 0;
    for (let position = 0; position + 1 < accountNumber.length; position += 1) {
      if (accountNumber[position] !== accountNumber[position + 1]) {
        differing += 1;
      }
    }
    assert.equal(differing, 11);
  });
});

describe('malformed account numbers', () => {
  const cases: ReadonlyArray<{ name: string; value: string; message: string }> = [
    { name: 'empty', value: '', message: WRONG_LENGTH },
    { name: '11 digits', value: '12345678909', message: WRONG_LENGTH },
    { name: '13 digits', value: '1234567890920', message: WRONG_LENGTH },
    { name: 'a letter', value: '12345678909A', message: WRONG_LENGTH },
    { name: 'all letters', value: 'abcdefghijkl', message: WRONG_LENGTH },
    { name: 'a leading space', value: ' 123456789092', message: WRONG_LENGTH },
    { name: 'a trailing space', value: '123456789092 ', message: WRONG_LENGTH },
    { name: 'an inner space', value: '1234 56789092', message: WRONG_LENGTH },
    { name: 'a trailing newline', value: '123456789092\n', message: WRONG_LENGTH },
    { name: 'a dash', value: '1234-5678-9092', message: WRONG_LENGTH },
    { name: 'a sign', value: '+12345678909', message: WRONG_LENGTH },
    { name: 'a decimal point', value: '12345678909.', message: WRONG_LENGTH },
    { name: 'an IBAN-style prefix', value: 'CB1234567890', message: WRONG_LENGTH },
    {
      name: 'Arabic-Indic digits',
      value: '\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0669\u0662',
      message: WRONG_LENGTH,
    },
    {
      name: 'a fullwidth digit',
      value: '12345678909\uff12',
      message: WRONG_LENGTH,
    },
    { name: 'twelve digits with a bad check', value: '123456789000', message: BAD_CHECK },
    { name: 'all zeros', value: '000000000000', message: BAD_CHECK },
  ];

  for (const c of cases) {
    test(`${c.name}: ${JSON.stringify(c.value)}`, () => {
      assert.equal(isValidAccountNumber(c.value), false);
      assert.equal(accountNumberProblem(c.value), c.message);
    });
  }
});
