import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { TokenService } from '../auth/tokens.ts';
import { CorebankError } from '../errors.ts';
import { authenticate, principalOf } from '../http/auth-guard.ts';
import {
  AccountNumberParam,
  errorResponses,
  Security,
  TransactionSchema,
} from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import { statementCsv, statementJson } from './formats.ts';
import { renderStatementPdf } from './pdf.ts';
import type { StatementsService } from './statements-service.ts';

const StatementSchema = Type.Object(
  {
    accountNumber: Type.String(),
    currency: Type.String(),
    period: Type.Object({
      from: Type.String({ format: 'date-time', description: 'First instant, inclusive' }),
      to: Type.String({
        format: 'date-time',
        description: 'Last instant, inclusive (now, for the running month)',
      }),
    }),
    month: Type.String(),
    timeZone: Type.String(),
    monthToDate: Type.Boolean(),
    openingBalance: Type.String(),
    closingBalance: Type.String(),
    totalCredits: Type.String(),
    totalDebits: Type.String(),
    lineCount: Type.Integer(),
    lines: Type.Array(TransactionSchema),
  },
  { title: 'Statement' },
);

const BalanceAtSchema = Type.Object(
  {
    accountNumber: Type.String(),
    at: Type.String({ format: 'date-time' }),
    balance: Type.String(),
    currency: Type.String(),
  },
  { title: 'BalanceAt' },
);

type Format = 'json' | 'csv' | 'pdf';

const MEDIA_TYPES: ReadonlyArray<[string, Format]> = [
  ['application/json', 'json'],
  ['text/csv', 'csv'],
  ['application/pdf', 'pdf'],
  ['application/*', 'json'],
  ['text/*', 'csv'],
  ['*/*', 'json'],
];

/**
 * Content negotiation on `Accept`: the acceptable type with the highest q-value wins (ties
 * go to the earlier one in the header); no header means JSON; nothing acceptable is 406.
 */
export function negotiate(accept: string | undefined): Format {
  if (accept === undefined || accept.trim() === '') return 'json';
  let best: { format: Format; q: number } | null = null;
  for (const part of accept.split(',').slice(0, 20)) {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const format = MEDIA_TYPES.find(([media]) => media === type?.trim())?.[1];
    if (format === undefined) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q) || q <= 0) continue;
    if (best === null || q > best.q) best = { format, q };
  }
  if (best === null) {
    throw new CorebankError(
      'NOT_ACCEPTABLE',
      'statements are available as application/json, text/csv or application/pdf',
    );
  }
  return best.format;
}

/**
 * Sends a stream. The route's typed reply only accepts the JSON schema's shape; a stream is
 * what every format is sent as (Fastify pipes it and skips serialisation).
 */
function sendStream(reply: FastifyReply, stream: Readable): FastifyReply {
  return reply.send(stream);
}

export function registerStatementRoutes(
  app: App,
  services: { statements: StatementsService; tokens: TokenService },
): void {
  const { statements } = services;
  const guard = authenticate(services.tokens);

  app.get(
    '/api/v1/accounts/:accountNumber/statements/:month',
    {
      onRequest: guard,
      schema: {
        tags: ['statements'],
        summary: 'A calendar month statement as JSON, CSV or PDF (chosen by Accept)',
        description:
          "Months are calendar months of the server's statement time zone (UTC unless configured). The running month is month to date. `Accept: text/csv` or `application/pdf` selects the other formats.",
        security: Security,
        params: Type.Object({
          accountNumber: AccountNumberParam,
          month: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}$', description: 'YYYY-MM' }),
        }),
        response: {
          200: {
            description: 'The statement',
            content: {
              'application/json': { schema: StatementSchema },
              'text/csv': { schema: Type.String() },
              'application/pdf': { schema: Type.String({ format: 'binary' }) },
            },
          },
          ...errorResponses(400, 401, 404, 406),
        },
      },
    },
    async (request, reply) => {
      const format = negotiate(request.headers.accept);
      const statement = await statements.statement(
        principalOf(request),
        request.params.accountNumber,
        request.params.month,
      );
      const name = `statement-${statement.header.accountNumber}-${statement.header.month}`;
      // Statements are personal financial data: no shared cache may keep them.
      reply.header('cache-control', 'private, no-store');
      if (format === 'pdf') {
        reply
          .type('application/pdf')
          .header('content-disposition', `attachment; filename="${name}.pdf"`);
        return sendStream(reply, renderStatementPdf(statement));
      }
      if (format === 'csv') {
        reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${name}.csv"`);
        return sendStream(reply, Readable.from(statementCsv(statement)));
      }
      reply.type('application/json; charset=utf-8');
      return sendStream(reply, Readable.from(statementJson(statement)));
    },
  );

  app.get(
    '/api/v1/accounts/:accountNumber/balance',
    {
      onRequest: guard,
      schema: {
        tags: ['statements'],
        summary: 'The balance at a moment: after the last posting at or before `at`',
        security: Security,
        params: Type.Object({ accountNumber: AccountNumberParam }),
        querystring: Type.Object(
          {
            at: Type.Optional(
              Type.String({
                maxLength: 40,
                description: 'ISO 8601 instant with offset; default now',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: BalanceAtSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) =>
      statements.balanceAt(principalOf(request), request.params.accountNumber, request.query.at),
  );
}
