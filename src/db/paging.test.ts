import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeIdCursor, encodeIdCursor, readPage } from './paging.ts';

describe('paging', () => {
  it('round-trips a position and refuses cursors it did not issue', () => {
    assert.equal(decodeIdCursor('p1:', encodeIdCursor('p1:', 42n)), 42n);
    assert.equal(decodeIdCursor('p1:', null), null);
    assert.equal(decodeIdCursor('p1:', undefined), null);
    const foreign = [
      encodeIdCursor('m1:', 42n),
      encodeIdCursor('p1:', 0n),
      Buffer.from('p1:042').toString('base64url'),
      Buffer.from('p1:9223372036854775808').toString('base64url'),
      Buffer.from('p1:-1').toString('base64url'),
      'not base64 at all!',
      '',
    ];
    for (const cursor of foreign) {
      assert.throws(() => decodeIdCursor('p1:', cursor), /cursor is not one this API issued/);
    }
    assert.equal(
      decodeIdCursor('p1:', Buffer.from('p1:9223372036854775807').toString('base64url')),
      9_223_372_036_854_775_807n,
    );
  });

  it('fetches one row more than the limit and points the cursor at the last row shown', async () => {
    const rows = [50n, 40n, 30n, 20n, 10n];
    const asked: number[] = [];
    const fetch = async (n: number) => {
      asked.push(n);
      return rows.slice(0, n);
    };
    const cursorOf = (id: bigint) => encodeIdCursor('p1:', id);
    const first = await readPage(2, fetch, cursorOf, (id) => Number(id));
    assert.deepEqual(asked, [3]);
    assert.deepEqual(first.data, [50, 40]);
    assert.equal(decodeIdCursor('p1:', first.nextCursor), 40n);
    const exact = await readPage(5, fetch, cursorOf, (id) => Number(id));
    assert.deepEqual(exact, { data: [50, 40, 30, 20, 10], nextCursor: null });
    const empty = await readPage(
      3,
      async () => [],
      cursorOf,
      (id: bigint) => Number(id),
    );
    assert.deepEqual(empty, { data: [], nextCursor: null });
  });
});
