import type { TransactionView } from '../ledger/transaction-view.ts';
import type { Statement } from './statements-service.ts';

/**
 * JSON and CSV renderings of a statement, as async generators of text chunks: a line is
 * read from the database, turned into text and handed to the socket before the next page is
 * read, so a month of any length renders in bounded memory.
 */

/** Lines are grouped into chunks of about this many characters before being yielded. */
const CHUNK_CHARS = 16_384;

/** The contract's statement as JSON: the header fields, then `lines`, streamed. */
export async function* statementJson(statement: Statement): AsyncGenerator<string> {
  const head = JSON.stringify(statement.header);
  // The header is a plain object: drop its closing brace and append the lines array.
  let chunk = `${head.slice(0, -1)},"lines":[`;
  let first = true;
  for await (const line of statement.lines()) {
    chunk += (first ? '' : ',') + JSON.stringify(line);
    first = false;
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  yield `${chunk}]}`;
}

/** The CSV columns: the contract's transaction fields, in this order. */
export const CSV_COLUMNS = [
  'id',
  'createdAt',
  'type',
  'direction',
  'amount',
  'currency',
  'balanceAfter',
  'counterpartyAccount',
  'description',
] as const satisfies ReadonlyArray<keyof TransactionView>;

/**
 * One CSV field (RFC 4180). A value a spreadsheet would read as a formula (starting with
 * `=`, `+`, `-`, `@`, or a tab or carriage return that some import paths strip before
 * looking) gets a leading apostrophe, the OWASP defence against CSV injection: a customer's
 * description must never run as a formula on the machine that opens the file. A field with
 * a comma, quote or line break is quoted, quotes doubled.
 */
export function csvField(value: string | null): string {
  if (value === null) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function csvRow(values: ReadonlyArray<string | null>): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/**
 * The statement as CSV: one header row, then an `opening_balance` row (at the period's
 * start), every line, and a `closing_balance` row (at its end). Amounts are the API's
 * decimal strings, lines end in CRLF.
 */
export async function* statementCsv(statement: Statement): AsyncGenerator<string> {
  const { header } = statement;
  const summary = (type: string, at: string, balance: string) =>
    csvRow(['', at, type, null, null, header.currency, balance, null, null]);
  let chunk =
    csvRow(CSV_COLUMNS) + summary('opening_balance', header.period.from, header.openingBalance);
  for await (const line of statement.lines()) {
    chunk += csvRow(CSV_COLUMNS.map((column) => line[column]));
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  yield chunk + summary('closing_balance', header.period.to, header.closingBalance);
}
