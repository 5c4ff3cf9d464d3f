import { CorebankError } from '../errors.ts';

/**
 * Keyset paging for every list of the API: "fetch limit + 1, show limit, the last shown
 * row is the next cursor". Cursors are opaque to clients but plain to us: a version prefix
 * naming the list and the position of the last row shown, base64url-encoded. Decoding is
 * strict, so a crafted cursor can never reach SQL as anything but a bounded integer.
 */

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** Largest 64-bit signed integer: ids never exceed it, and both engines refuse more. */
const MAX_ID = 9_223_372_036_854_775_807n;

/** The refusal of a cursor this API did not issue (every list's, the same words). */
export function badCursor(): CorebankError {
  return new CorebankError('VALIDATION_FAILED', 'cursor is not one this API issued', 'cursor');
}

/** A cursor for the position `id` in the list named by `prefix` (e.g. `p1:`). */
export function encodeIdCursor(prefix: string, id: bigint): string {
  return Buffer.from(`${prefix}${id}`).toString('base64url');
}

/** The position in a cursor this API issued for the list `prefix`; null for the first page. */
export function decodeIdCursor(prefix: string, cursor: string | null | undefined): bigint | null {
  if (cursor === null || cursor === undefined) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const digits = text.startsWith(prefix) ? text.slice(prefix.length) : '';
  if (!/^[1-9]\d{0,18}$/.test(digits) || BigInt(digits) > MAX_ID) throw badCursor();
  return BigInt(digits);
}

/**
 * Reads one page: `fetch` is asked for one row more than `limit`, which tells whether
 * another page exists without a count; the cursor is the position of the last row shown.
 */
export async function readPage<Row, T>(
  limit: number,
  fetch: (fetchLimit: number) => Promise<Row[]>,
  cursorOf: (last: Row) => string,
  view: (row: Row) => T,
): Promise<Page<T>> {
  const rows = await fetch(limit + 1);
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return {
    data: shown.map(view),
    nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : null,
  };
}
