import { CorebankError } from '../errors.ts';

/**
 * Money in Corebank is a bigint of minor units (cents, fils, yen) plus an ISO 4217 currency.
 * This module is the only place that turns decimal strings into minor units and back, so the
 * rules about what an amount may look like live in exactly one spot.
 */

/**
 * Minor-unit scale per currency: the number of decimal places in one major unit. A Map is used
 * rather than a plain object so that inherited keys such as `constructor` can never look like a
 * supported currency.
 */
const CURRENCY_SCALES: ReadonlyMap<string, number> = new Map([
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
]);

export const SUPPORTED_CURRENCIES: readonly string[] = Object.freeze([...CURRENCY_SCALES.keys()]);

/** The currency table as the API publishes it: each code with its minor-unit digits. */
export function currencyTable(): Array<{ code: string; decimals: number }> {
  return [...CURRENCY_SCALES].map(([code, decimals]) => ({ code, decimals }));
}

/**
 * Inputs longer than this are rejected before any pattern matching, so that hostile input
 * cannot make the parser do unbounded work. Forty characters is far more than any real amount.
 */
const MAX_AMOUNT_LENGTH = 40;

const CURRENCY_CODE_PATTERN = /^[A-Z]{3}$/;

/**
 * The loose shape of an unsigned decimal: optional ASCII digits, optionally a dot and more
 * ASCII digits. It is deliberately loose so that near misses (".5", "5.", "007") can be
 * reported with a precise message; the strict rules are checked one by one afterwards.
 * `[0-9]` (not `\d` with the `u` flag, not `\p{Nd}`) keeps non-ASCII digits out.
 */
const DECIMAL_SHAPE = /^([0-9]*)(?:\.([0-9]*))?$/;

export function isSupportedCurrency(code: string): boolean {
  return CURRENCY_CODE_PATTERN.test(code) && CURRENCY_SCALES.has(code);
}

/**
 * Returns the number of minor-unit decimal places of `code`. The code must already be exactly
 * three upper-case letters: silently upper-casing would let two spellings of one currency reach
 * the ledger, so normalising input is the caller's explicit decision.
 */
export function currencyScale(code: string): number {
  if (!CURRENCY_CODE_PATTERN.test(code)) {
    throw new CorebankError(
      'VALIDATION_FAILED',
      'currency must be a three-letter upper-case ISO 4217 code like "USD"',
      'currency',
    );
  }
  const scale = CURRENCY_SCALES.get(code);
  if (scale === undefined) {
    throw new CorebankError(
      'VALIDATION_FAILED',
      `currency ${code} is not supported; supported currencies are ${SUPPORTED_CURRENCIES.join(', ')}`,
      'currency',
    );
  }
  return scale;
}

export interface ParseAmountOptions {
  /** The largest accepted amount, in minor units of the same currency; must be positive. */
  maxMinor: bigint;
  /** The request field reported in the error; defaults to `amount`. */
  field?: string;
}

/**
 * Parses a decimal string in major units (`"125.50"`) into exact minor units (`12550n`).
 *
 * Only a strict, canonical form is accepted: ASCII digits without leading zeros, optionally a
 * dot followed by at most `scale` digits, strictly positive, at most `maxMinor`. Anything else is
 * rejected rather than repaired, because silently rounding, trimming or reinterpreting a
 * customer's amount would move money the customer did not ask to move.
 */
export function parseAmount(input: unknown, currency: string, options: ParseAmountOptions): bigint {
  const field = options.field ?? 'amount';
  const scale = currencyScale(currency);
  if (options.maxMinor <= 0n) {
    // A non-positive maximum would reject every amount; that is a configuration bug, not bad
    // input, so it must not be reported to the customer as a validation failure.
    throw new RangeError(`parseAmount: maxMinor must be positive, got ${options.maxMinor}`);
  }
  const example = exampleAmount(scale);
  const fail = (message: string): CorebankError =>
    new CorebankError('VALIDATION_FAILED', `${field} ${message}`, field);

  if (typeof input !== 'string') {
    // JSON numbers are refused outright: by the time a number reaches us it has already been
    // through a binary float and may no longer be the value the client meant.
    const suffix = typeof input === 'number' || typeof input === 'bigint' ? ', not a number' : '';
    throw fail(`must be a decimal string like "${example}"${suffix}`);
  }
  if (input.length === 0) {
    throw fail(`must not be empty; send a decimal string like "${example}"`);
  }
  if (input.length > MAX_AMOUNT_LENGTH) {
    throw fail(`is too long (at most ${MAX_AMOUNT_LENGTH} characters)`);
  }
  if (/\s/.test(input)) {
    throw fail('must not contain spaces or other whitespace');
  }
  if (input.startsWith('-') || input.startsWith('+')) {
    throw fail(`must be a positive decimal string without a sign, like "${example}"`);
  }
  const match = DECIMAL_SHAPE.exec(input);
  if (match === null) {
    throw fail(`must be a decimal string like "${example}"`);
  }
  const integerDigits = match[1] ?? '';
  const fractionDigits = match[2];

  // For a currency without minor units any dot at all is "too many decimal places", which is a
  // clearer message than complaining about the digits around it.
  if (fractionDigits !== undefined && (scale === 0 || fractionDigits.length > scale)) {
    throw fail(`has more decimal places than ${currency} allows (${scale})`);
  }
  if (integerDigits.length === 0) {
    throw fail(`must have at least one digit before the decimal point, like "${example}"`);
  }
  if (fractionDigits === '') {
    throw fail(`must have at least one digit after the decimal point, like "${example}"`);
  }
  if (integerDigits.length > 1 && integerDigits.startsWith('0')) {
    throw fail('must not have leading zeros');
  }

  // Both parts are now short runs of ASCII digits, so BigInt converts them exactly.
  const fraction = (fractionDigits ?? '').padEnd(scale, '0');
  const amountMinor =
    BigInt(integerDigits) * 10n ** BigInt(scale) + (fraction === '' ? 0n : BigInt(fraction));

  if (amountMinor === 0n) {
    throw fail('must be greater than zero');
  }
  if (amountMinor > options.maxMinor) {
    throw fail(`exceeds the maximum of ${formatMinor(options.maxMinor, currency)} ${currency}`);
  }
  return amountMinor;
}

/**
 * Formats minor units as an exact decimal string in major units with exactly `scale` decimals:
 * `12550n` USD is `"125.50"`, `-5n` USD is `"-0.05"`, `100n` JPY is `"100"`.
 */
export function formatMinor(amountMinor: bigint, currency: string): string {
  const scale = currencyScale(currency);
  const sign = amountMinor < 0n ? '-' : '';
  const digits = (amountMinor < 0n ? -amountMinor : amountMinor).toString();
  if (scale === 0) {
    return `${sign}${digits}`;
  }
  const padded = digits.padStart(scale + 1, '0');
  const integerPart = padded.slice(0, padded.length - scale);
  const fractionPart = padded.slice(padded.length - scale);
  return `${sign}${integerPart}.${fractionPart}`;
}

/**
 * Converts a whole number of major units into minor units, for configuration such as "the
 * largest transfer is 1,000,000 USD".
 */
export function minorFromMajorUnits(major: bigint, currency: string): bigint {
  return major * 10n ** BigInt(currencyScale(currency));
}

/** An example amount in the currency's own precision, so error messages show a valid form. */
function exampleAmount(scale: number): string {
  return scale === 0 ? '125' : `125.${'5'.padEnd(scale, '0')}`;
}
