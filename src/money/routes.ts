import { Type } from 'typebox';
import type { App } from '../http/types.ts';
import { currencyTable } from './money.ts';

/**
 * `GET /api/v1/currencies`: the server's currency table, the only one. Clients (the
 * dashboard) format and validate amounts with it instead of keeping their own copy, which
 * would drift (three-decimal dinars, zero-decimal won).
 */
export function registerCurrencyRoutes(app: App): void {
  const table = { data: currencyTable() };
  app.get(
    '/api/v1/currencies',
    {
      schema: {
        tags: ['money'],
        summary: 'Supported currencies and their minor-unit digits',
        response: {
          200: Type.Object({
            data: Type.Array(
              Type.Object({
                code: Type.String({ description: 'ISO 4217 code' }),
                decimals: Type.Integer({
                  minimum: 0,
                  description: 'Digits after the decimal point in amounts of this currency',
                }),
              }),
            ),
          }),
        },
      },
    },
    async () => table,
  );
}
