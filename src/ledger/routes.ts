import type { FastifyReply, FastifyRequest } from 'fastify';
import { type TObject, Type } from 'typebox';
import type { TokenService } from '../auth/tokens.ts';
import { CorebankError } from '../errors.ts';
import { authenticatedRoutes, principalOf } from '../http/auth-guard.ts';
import { problemOf } from '../http/problem.ts';
import {
  AccountNumberParam,
  Amount,
  CurrencyCode,
  Description,
  errorResponses,
  IdempotencyHeaders,
  Pin,
  Security,
  TransactionSchema,
} from '../http/schemas.ts';
import type { App } from '../http/types.ts';
import { type BulkOutcome, type CommandOutcome, refusalError } from './commands/command.ts';
import {
  type BulkTransferRequest,
  type CashKindName,
  MAX_BULK_TRANSFERS,
  type MoneyRequest,
  type MoneyService,
  type PendingApproval,
} from './money-service.ts';
import type { TransactionView } from './transaction-view.ts';

/**
 * The money routes: the first stage of the write path (route → command → batcher → engine →
 * persist → outcome → answer). A route validates the body by schema and authenticates the
 * caller (once, for the whole group), hands the request to the money service, and turns
 * the command's outcome into the HTTP answer: the only place an outcome becomes a status.
 */

const AccountParams = Type.Object({ accountNumber: AccountNumberParam });

function moneySchema(summary: string, body: TObject, description?: string) {
  return {
    schema: {
      tags: ['money'],
      summary,
      ...(description === undefined ? {} : { description }),
      security: Security,
      params: AccountParams,
      headers: IdempotencyHeaders,
      body,
      response: {
        201: TransactionSchema,
        ...errorResponses(400, 401, 403, 404, 409, 413, 422, 423),
      },
    },
  };
}

/**
 * Answers a money command: 201 with the transaction, or the command's error. A replayed
 * outcome (same Idempotency-Key, same request) is answered exactly as the first time and
 * marked with `Idempotent-Replayed: true`.
 */
function answer(
  reply: FastifyReply,
  outcome: CommandOutcome | PendingApproval,
): TransactionView | undefined {
  if ('pendingApproval' in outcome) {
    // A staff deposit above DUAL_CONTROL_THRESHOLD: nothing posted yet (issue #13). The
    // approval document is sent as is (its schema is the approvals routes'); it is kept out
    // of this route's response schema so the dashboard's typed deposit answer stays one type.
    if (outcome.replayed) reply.header('idempotent-replayed', 'true');
    void reply.status(202).send(outcome.pendingApproval);
    return undefined;
  }
  if (outcome.replayed) reply.header('idempotent-replayed', 'true');
  if (!outcome.ok) {
    throw refusalError(outcome.error);
  }
  reply.status(201);
  return outcome.transaction;
}

/** One item's outcome in a bulk answer. */
const BulkItemResultSchema = Type.Object(
  {
    index: Type.Integer({ minimum: 0 }),
    status: Type.Union([Type.Literal('posted'), Type.Literal('refused'), Type.Literal('skipped')]),
    code: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
    field: Type.Optional(Type.String()),
    transaction: Type.Optional(TransactionSchema),
  },
  { title: 'BulkTransferItemResult' },
);

/**
 * A bulk body is at most 1,000 items of bounded fields (about 400 bytes each at worst), so
 * this route takes a larger body than the rest of the API (BODY_LIMIT_BYTES).
 */
const BULK_BODY_LIMIT_BYTES = 524_288;

/**
 * Answers a bulk request: 200 with every item's result; a refused atomic request 422
 * `BULK_REFUSED` with the refused items (`failures`), nothing posted; a refusal of the whole
 * request (wrong PIN, locked user, reused key) as for a single transfer.
 */
function answerBulk(request: FastifyRequest, reply: FastifyReply, outcome: BulkOutcome) {
  if (outcome.replayed) reply.header('idempotent-replayed', 'true');
  if (!outcome.ok) throw refusalError(outcome.error);
  const failures = outcome.results.filter((result) => result.status === 'refused');
  if (!outcome.posted) {
    const problem = problemOf(
      new CorebankError(
        'BULK_REFUSED',
        `${failures.length} of ${outcome.results.length} transfers were refused; nothing was posted`,
      ),
      request.id,
    );
    return reply
      .status(422)
      .type('application/problem+json')
      .send({ ...problem, failures });
  }
  return reply.status(200).send({
    atomic: outcome.atomic,
    postedCount: outcome.results.length - failures.length,
    refusedCount: failures.length,
    results: outcome.results,
  });
}

type MoneyRouteRequest = FastifyRequest<{
  Params: { accountNumber: string };
  Body: MoneyRequest;
  Headers: { 'idempotency-key'?: string };
}>;

export function registerMoneyRoutes(
  app: App,
  services: { money: MoneyService; tokens: TokenService },
): void {
  const { money } = services;
  const submit = (kind: CashKindName) => async (request: MoneyRouteRequest, reply: FastifyReply) =>
    answer(
      reply,
      await money.submitOrHold(
        kind,
        principalOf(request),
        request.params.accountNumber,
        request.body,
        request.headers['idempotency-key'] ?? null,
        request.ip,
      ),
    );

  // Every money route needs a caller: authenticated once for the group, before the body is
  // parsed, so an anonymous caller learns nothing about validation rules.
  authenticatedRoutes(app, services.tokens, (scope) => {
    scope.post(
      '/api/v1/accounts/:accountNumber/deposits',
      moneySchema(
        'Deposit cash into an account (a staff deposit above DUAL_CONTROL_THRESHOLD answers 202 with the pending approval)',
        Type.Object(
          {
            amount: Amount,
            currency: Type.Optional(CurrencyCode),
            description: Type.Optional(Description),
          },
          { additionalProperties: false },
        ),
      ),
      submit('deposit'),
    );

    scope.post(
      '/api/v1/accounts/:accountNumber/withdrawals',
      moneySchema(
        'Withdraw cash (customers confirm with their PIN)',
        Type.Object(
          {
            amount: Amount,
            pin: Type.Optional(Pin),
            currency: Type.Optional(CurrencyCode),
            description: Type.Optional(Description),
          },
          { additionalProperties: false },
        ),
      ),
      submit('withdrawal'),
    );

    scope.post(
      '/api/v1/accounts/:accountNumber/transfers',
      moneySchema(
        'Transfer to another account (confirm with your PIN)',
        Type.Object(
          {
            toAccount: Type.String({ maxLength: 64 }),
            amount: Amount,
            pin: Pin,
            currency: Type.Optional(CurrencyCode),
            description: Type.Optional(Description),
          },
          { additionalProperties: false },
        ),
        'A destination that cannot receive (frozen, or in another currency) answers its ' +
          'owner and reading staff precisely (409 ACCOUNT_FROZEN, 400 CURRENCY_MISMATCH); ' +
          'anyone else gets one refusal for both, 400 DESTINATION_REFUSED, so another ' +
          "customer's account facts do not leak.",
      ),
      submit('transfer'),
    );

    scope.post(
      '/api/v1/transfers/bulk',
      {
        bodyLimit: BULK_BODY_LIMIT_BYTES,
        schema: {
          tags: ['money'],
          summary:
            'Up to 1,000 transfers from your accounts in one request, confirmed with one PIN',
          description:
            'Each item is an ordinary transfer (same rules, limits and events) and gets its own result `{index, status, code?, message?, field?, transaction?}`. The request is applied in one database transaction. Without `atomic`, refused items (404 NOT_FOUND for an account you may not debit, INSUFFICIENT_FUNDS, …) do not stop the others: 200 with every result. With `"atomic": true`, one refused item means nothing is posted: 422 BULK_REFUSED listing the refused items in `failures`. A wrong PIN, a locked user or a reused Idempotency-Key refuses the whole request as for a single transfer. Malformed items: 400 naming the item (`transfers.3.amount`). `Idempotency-Key` covers the request as a whole.',
          security: Security,
          headers: IdempotencyHeaders,
          body: Type.Object(
            {
              pin: Pin,
              atomic: Type.Optional(Type.Boolean({ default: false })),
              transfers: Type.Array(
                Type.Object(
                  {
                    fromAccount: Type.String({ maxLength: 64 }),
                    toAccount: Type.String({ maxLength: 64 }),
                    amount: Amount,
                    description: Type.Optional(Description),
                  },
                  { additionalProperties: false },
                ),
                { minItems: 1, maxItems: MAX_BULK_TRANSFERS },
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object(
              {
                atomic: Type.Boolean(),
                postedCount: Type.Integer(),
                refusedCount: Type.Integer(),
                results: Type.Array(BulkItemResultSchema),
              },
              { title: 'BulkTransferResult' },
            ),
            422: Type.Object(
              {
                type: Type.String(),
                title: Type.String(),
                status: Type.Integer(),
                detail: Type.String(),
                code: Type.String(),
                field: Type.Optional(Type.String()),
                instance: Type.Optional(Type.String()),
                failures: Type.Optional(Type.Array(BulkItemResultSchema)),
              },
              { description: 'RFC 9457 problem document; BULK_REFUSED lists `failures`' },
            ),
            ...errorResponses(400, 401, 403, 409, 413, 423),
          },
        },
      },
      async (
        request: FastifyRequest<{
          Body: BulkTransferRequest;
          Headers: { 'idempotency-key'?: string };
        }>,
        reply: FastifyReply,
      ) =>
        answerBulk(
          request,
          reply,
          await money.submitBulk(
            principalOf(request),
            request.body,
            request.headers['idempotency-key'] ?? null,
            request.ip,
          ),
        ),
    );
  });
}
