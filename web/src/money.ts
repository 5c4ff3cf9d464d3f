/**
 * Money in the dashboard stays a decimal string from the API to the screen: formatting is
 * string work, and comparison or arithmetic goes through bigint minor units. A float never
 * touches an amount (0.1 + 0.2 is not 0.3).
 */
const SYMBOLS: Record<string, string> = { USD: '$', EUR: '€', GBP: '£', JPY: '¥' };

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** "-1234.5" in USD → "-$1,234.50"; unknown shapes are shown as given, never guessed. */
export function formatMoney(amount: string, currency: string): string {
  const match = DECIMAL.exec(amount);
  if (match === null) return `${amount} ${currency}`;
  const [, sign, whole = '0', fraction = ''] = match;
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const symbol = SYMBOLS[currency];
  const digits = fraction.length > 0 ? `${grouped}.${fraction}` : grouped;
  return symbol === undefined ? `${sign}${digits} ${currency}` : `${sign}${symbol}${digits}`;
}

/**
 * The server's currency table (`GET /api/v1/currencies`), loaded once when the app starts:
 * the dashboard keeps no copy of its own, so dinars keep three decimals and won none.
 */
let decimalsByCode: ReadonlyMap<string, number> = new Map();

export function setCurrencyTable(table: ReadonlyArray<{ code: string; decimals: number }>): void {
  decimalsByCode = new Map(table.map(({ code, decimals }) => [code, decimals]));
}

/** Every currency the server supports, in its order. */
export function currencyCodes(): string[] {
  return [...decimalsByCode.keys()];
}

/** Decimal places of a currency, from the server's table. */
export function decimalsOf(currency: string): number {
  const decimals = decimalsByCode.get(currency);
  if (decimals === undefined) throw new Error(`currency ${currency} is not in the server's table`);
  return decimals;
}

/** A decimal string as minor units; null if it is not a plain decimal. */
export function toMinor(amount: string, decimals: number): bigint | null {
  const match = DECIMAL.exec(amount.trim());
  if (match === null) return null;
  const [, sign, whole = '0', fraction = ''] = match;
  if (fraction.length > decimals) return null;
  const minor = BigInt(whole + fraction.padEnd(decimals, '0'));
  return sign === '-' ? -minor : minor;
}

/** Minor units back to a decimal string. */
export function fromMinor(minor: bigint, decimals: number): string {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = decimals > 0 ? `.${digits.slice(digits.length - decimals)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/** Why an amount typed by the customer cannot be sent, or null when it can. */
export function amountProblem(amount: string, currency: string): string | null {
  const decimals = decimalsOf(currency);
  if (amount.trim() === '') return 'Enter an amount.';
  const minor = toMinor(amount, decimals);
  if (minor === null || amount.trim().startsWith('-')) {
    return decimals === 0
      ? `Enter a whole number of ${currency}.`
      : `Enter an amount like 25.00 (at most ${decimals} decimals).`;
  }
  if (minor <= 0n) return 'The amount must be more than zero.';
  return null;
}
