import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isAccountLimitViolation } from '../db/database.ts';
import { CorebankError, isCorebankError } from '../errors.ts';
import { reliabilityOf } from '../reliability/context.ts';
import { problemOf } from './problem.ts';
import { SECURITY_HEADERS } from './security-headers.ts';
import type { App } from './types.ts';

interface AjvError {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: { missingProperty?: string; additionalProperty?: string };
}

/** Names the offending field of a schema validation failure, e.g. `amount` or `limit`. */
function fieldOf(error: AjvError, context: string | undefined): string {
  const path = (error.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
  const leaf = error.params?.missingProperty ?? error.params?.additionalProperty;
  const field = [path, leaf].filter((part) => part !== undefined && part !== '').join('.');
  if (field !== '') return field;
  return context ?? 'body';
}

function messageOf(error: AjvError, field: string): string {
  if (error.keyword === 'required') return `${field} is required`;
  if (error.keyword === 'additionalProperties') return `${field} is not a recognised field`;
  return `${field} ${error.message ?? 'is not valid'}`;
}

/** Translates anything thrown while handling a request into a CorebankError. */
export function toCorebankError(error: FastifyError): CorebankError {
  if (isCorebankError(error)) return error;
  // The database's own guard of the account limit (it wins races the service's count loses).
  if (isAccountLimitViolation(error)) {
    return new CorebankError('ACCOUNT_LIMIT_REACHED', 'a customer may hold at most 10 accounts');
  }
  if (error.validation !== undefined && error.validation.length > 0) {
    const first = error.validation[0] as AjvError;
    const field = fieldOf(first, error.validationContext);
    return new CorebankError('VALIDATION_FAILED', messageOf(first, field), field);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new CorebankError('PAYLOAD_TOO_LARGE', 'request body is larger than allowed');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new CorebankError(
        'UNSUPPORTED_MEDIA_TYPE',
        'send JSON with content-type application/json',
      );
    default:
      break;
  }
  // Other client errors raised by Fastify itself (malformed JSON, empty body, bad
  // content-length) carry messages written for clients; anything else is internal.
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new CorebankError('VALIDATION_FAILED', error.message);
  }
  return new CorebankError('INTERNAL', 'internal error');
}

/**
 * Errors Fastify raises before routing (a malformed percent-encoding, an over-long path
 * parameter) get the same problem document as every other refusal, without echoing the raw
 * URL back.
 */
export function answerFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const body = problemOf(
    new CorebankError('VALIDATION_FAILED', 'the request URL is malformed or too long'),
    request.id,
  );
  request.log.info({ code: error.code }, 'request refused before routing');
  void reply
    .status(body.status)
    .headers(SECURITY_HEADERS)
    .header('x-request-id', request.id)
    .type('application/problem+json')
    .send(body);
}

export function registerErrorHandling(app: App): void {
  const { monitor } = reliabilityOf(app);
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    // A dependency that is down (PostgreSQL gone, SQLite's disk full, Redis unreachable) is
    // a 503 with Retry-After, not a 500: the monitor logs the outage once with its real
    // cause, and each refused request is an info line without a stack trace.
    const failure = isCorebankError(error) ? undefined : monitor.observe(error);
    const mapped =
      failure === undefined
        ? toCorebankError(error)
        : new CorebankError(
            'SERVICE_UNAVAILABLE',
            `${failure.dependency} is ${failure.kind === 'slow' ? 'slow' : 'unavailable'}`,
          );
    const body = problemOf(mapped, request.id);
    if (mapped.code === 'SERVICE_UNAVAILABLE') {
      request.log.info(
        { code: body.code, dependency: failure?.dependency, reason: mapped.message },
        'request refused: service unavailable',
      );
    } else if (body.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.info({ code: body.code, field: body.field }, 'request refused');
    }
    if (mapped.code === 'UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer');
    if (mapped.retryAfterSeconds !== undefined) {
      reply.header('retry-after', String(Math.max(1, Math.ceil(mapped.retryAfterSeconds))));
    }
    if (mapped.code === 'SERVICE_UNAVAILABLE') reply.header('retry-after', '1');
    return reply.status(body.status).type('application/problem+json').send(body);
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const body = problemOf(new CorebankError('NOT_FOUND', 'no such route'), request.id);
    return reply.status(404).type('application/problem+json').send(body);
  });
}
