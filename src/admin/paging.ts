import { badCursor } from '../db/paging.ts';
import type { UserCursor } from './admin-repository.ts';

/*
 * The users list's cursor: its position is (created_at, id), not one id, so it is the one
 * list with a cursor of its own. Everything else about paging is in src/db/paging.ts.
 */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

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
