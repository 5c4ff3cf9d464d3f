import { CorebankError } from '../errors.ts';
import type { UserCursor } from './admin-repository.ts';

/*
 * Cursors are opaque to clients but plain to us: a version prefix and the position of the
 * last row shown. Anything that does not decode to exactly that shape is refused, so a
 * crafted cursor can never reach SQL as anything but a bounded integer or a checked string.
 */
const MAX_ID = 9_223_372_036_854_775_807n;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function badCursor(): CorebankError {
  return new CorebankError('VALIDATION_FAILED', 'cursor is not one this API issued', 'cursor');
}

export function encodeIdCursor(prefix: string, id: bigint): string {
  return Buffer.from(`${prefix}${id}`).toString('base64url');
}

export function decodeIdCursor(prefix: string, cursor: string | undefined): bigint | null {
  if (cursor === undefined) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const digits = text.startsWith(prefix) ? text.slice(prefix.length) : '';
  if (!/^[1-9]\d{0,18}$/.test(digits) || BigInt(digits) > MAX_ID) throw badCursor();
  return BigInt(digits);
}

export function encodeUserCursor(position: UserCursor): string {
  return Buffer.from(`u1:${position.createdAt}|${position.id}`).toString('base64url');
}

export function decodeUserCursor(cursor: string | undefined): UserCursor | null {
  if (cursor === undefined) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const [createdAt, id] = text.startsWith('u1:') ? text.slice(3).split('|') : [];
  if (createdAt === undefined || id === undefined || !ISO_UTC.test(createdAt) || !UUID.test(id)) {
    throw badCursor();
  }
  return { createdAt, id };
}
