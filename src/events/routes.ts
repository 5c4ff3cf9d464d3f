import { Type } from 'typebox';
import { isReadingStaff } from '../auth/roles.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { Db } from '../db/database.ts';
import { readPage } from '../db/paging.ts';
import { CorebankError } from '../errors.ts';
import { authenticate, principalOf } from '../http/auth-guard.ts';
import { errorResponses, Security } from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import { EVENT_TYPES, readEventsAfter } from './outbox.ts';

export const CloudEventSchema = Type.Object(
  {
    specversion: Type.Literal('1.0'),
    id: Type.String(),
    source: Type.String(),
    type: Type.Enum([...EVENT_TYPES]),
    time: Type.String({ format: 'date-time' }),
    sequence: Type.Integer({ description: 'increases by exactly one per event' }),
    datacontenttype: Type.Literal('application/json'),
    data: Type.Record(Type.String(), Type.Unknown()),
  },
  { title: 'Event', description: 'CloudEvents 1.0, structured JSON' },
);

/**
 * `GET /api/v1/events`: the outbox for staff and auditors, oldest first, from any
 * sequence (`after`), so a system that missed events (or is new) can replay them.
 */
export function registerEventRoutes(app: App, deps: { db: Db; tokens: TokenService }): void {
  const authenticated = authenticate(deps.tokens);
  app.get(
    '/api/v1/events',
    {
      onRequest: async (request) => {
        await authenticated(request);
        if (!isReadingStaff(principalOf(request))) {
          throw new CorebankError('FORBIDDEN', 'events are for staff and auditors');
        }
      },
      schema: {
        tags: ['events'],
        summary: 'Events after a sequence number, oldest first (staff and auditors)',
        security: Security,
        querystring: Type.Object({
          after: Type.Optional(
            Type.String({
              pattern: '^(0|[1-9][0-9]{0,15})$',
              description: 'a sequence number; default 0',
            }),
          ),
          limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
        }),
        response: {
          200: Type.Object({
            data: Type.Array(CloudEventSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()], {
              description: 'pass as `after` for the next page; null when no newer event exists yet',
            }),
          }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const after = BigInt(request.query.after ?? '0');
      const limit = request.query.limit;
      // The cursor is the plain sequence number: the contract's `after=` takes one.
      return readPage(
        limit,
        (fetchLimit) => readEventsAfter(deps.db, after, fetchLimit),
        (last) => String(last.sequence),
        (event) => event,
      );
    },
  );
}
