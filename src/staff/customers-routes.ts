import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { toAccountView } from '../accounts/accounts-service.ts';
import { isReadingStaff } from '../auth/roles.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { Db } from '../db/database.ts';
import { CorebankError } from '../errors.ts';
import { pendingHoldsOf } from '../holds/holds-repository.ts';
import { authenticate, principalOf } from '../http/auth-guard.ts';
import { AccountSchema, errorResponses, Security } from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import { accountsOfUsers, namesOfUsers, searchCustomers } from './customers-repository.ts';

const StaffCustomerSchema = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    fullName: Type.String(),
    email: Type.String(),
    locked: Type.Boolean(),
    accounts: Type.Array(AccountSchema),
  },
  { title: 'StaffCustomer' },
);

const UserNameSchema = Type.Object(
  { id: Type.String(), username: Type.String(), fullName: Type.String() },
  { title: 'UserName' },
);

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** At most this many ids per name lookup (one page of the audit log). */
const MAX_IDS = 100;

/**
 * The cash desk's reads for staff (tellers, admins, auditors): find a customer by name,
 * username or account number with their accounts, and turn user ids into usernames.
 * Customers get 403 before the query is parsed, as on every staff route.
 */
export function registerStaffCustomerRoutes(
  app: App,
  services: { db: Db; tokens: TokenService },
): void {
  const { db } = services;
  const authenticated = authenticate(services.tokens);
  const staffOnly = async (request: FastifyRequest): Promise<void> => {
    await authenticated(request);
    if (!isReadingStaff(principalOf(request))) {
      throw new CorebankError('FORBIDDEN', 'this is for bank staff only');
    }
  };

  app.get(
    '/api/v1/staff/customers',
    {
      onRequest: staffOnly,
      schema: {
        tags: ['staff'],
        summary: 'Find customers by name, username or account number (tellers, admins, auditors)',
        description:
          'A 12-digit `q` finds the holder of that account; anything else matches usernames ' +
          'that start with it and full names that contain it, ignoring case. At most 20 ' +
          'customers, each with their accounts.',
        security: Security,
        querystring: Type.Object({
          q: Type.String({ minLength: 2, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
        }),
        response: {
          200: Type.Object({ data: Type.Array(StaffCustomerSchema) }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const customers = await searchCustomers(db, request.query.q.trim());
      const accounts = await accountsOfUsers(
        db,
        customers.map((c) => c.id),
      );
      // The teller sees what the customer may spend: the balance less pending holds.
      const held = await pendingHoldsOf(
        db,
        [...accounts.values()].flat().map((a) => a.id),
        new Date().toISOString(),
      );
      return {
        data: customers.map((c) => ({
          id: c.id,
          username: c.username,
          fullName: c.fullName,
          email: c.email,
          locked: c.lockedAt !== null,
          accounts: (accounts.get(c.id) ?? []).map((a) => toAccountView(a, held.get(a.id))),
        })),
      };
    },
  );

  app.get(
    '/api/v1/staff/users',
    {
      onRequest: staffOnly,
      schema: {
        tags: ['staff'],
        summary: 'Usernames of the given user ids, e.g. the actors of an audit page (staff)',
        security: Security,
        querystring: Type.Object({
          ids: Type.String({
            minLength: 36,
            maxLength: MAX_IDS * 37,
            pattern: `^${UUID}(,${UUID})*$`,
            description: `comma-separated user ids, at most ${MAX_IDS}`,
          }),
        }),
        response: {
          200: Type.Object({ data: Type.Array(UserNameSchema) }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const ids = [...new Set(request.query.ids.split(','))];
      if (ids.length > MAX_IDS) {
        throw new CorebankError('VALIDATION_FAILED', `at most ${MAX_IDS} ids`, 'ids');
      }
      return { data: await namesOfUsers(db, ids) };
    },
  );
}
