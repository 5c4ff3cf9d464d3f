import type { FastifyReply, FastifyRequest } from 'fastify';
import { type TObject, Type } from 'typebox';
import type { TokenService } from '../auth/tokens.ts';
import { CorebankError } from '../errors.ts';
import { authenticatedRoutes, principalOf } from '../http/auth-guard.ts';
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
import type { CommandOutcome } from './commands/command.ts';
import type { CashKindName, MoneyRequest, MoneyService, PendingApproval } from './money-service.ts';
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
    void reply.status(202).send(outcome.pendingApproval);
    return undefined;
  }
  if (outcome.replayed) reply.header('idempotent-replayed', 'true');
  if (!outcome.ok) {
    throw new CorebankError(outcome.error.code, outcome.error.message, outcome.error.field);
  }
  reply.status(201);
  return outcome.transaction;
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
  });
}
