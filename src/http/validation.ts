import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

/**
 * Two validators. Bodies are validated as sent: no type coercion (the JSON number 100 is
 * not silently the amount "100") and no silent removal of unknown fields (a body carrying
 * `roles` is refused, not half-accepted). Query strings, path parameters and headers are
 * text by nature, so there numbers and booleans are coerced from strings.
 */
function createAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes,
    removeAdditional: false,
    useDefaults: true,
    allErrors: false,
    // TypeBox adds its own annotation keywords; they carry no validation meaning.
    strict: false,
  });
  addFormats.default(ajv, ['email', 'date-time', 'uuid']);
  return ajv;
}

export function createValidatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const strictAjv = createAjv(false);
  const coercingAjv = createAjv(true);
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strictAjv : coercingAjv;
    return ajv.compile(schema as object);
  };
}
