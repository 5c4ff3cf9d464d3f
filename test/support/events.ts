import assert from 'node:assert/strict';
import type { TestApp, TestUser } from './harness.ts';

/** Helpers for the events and webhooks suites. */

export interface EventRow {
  specversion: string;
  id: string;
  source: string;
  type: string;
  time: string;
  sequence: number;
  data: Record<string, unknown>;
}

/** Every event after `after`, oldest first, through the pull API (walking all pages). */
export async function allEvents(t: TestApp, reader: TestUser, after = 0): Promise<EventRow[]> {
  const events: EventRow[] = [];
  let cursor: string | null = String(after);
  for (let page = 0; page < 1000 && cursor !== null; page++) {
    const response: { status: number; body: { data: EventRow[]; nextCursor: string | null } } =
      await t.request<{ data: EventRow[]; nextCursor: string | null }>(
        'GET',
        `/api/v1/events?limit=100&after=${cursor}`,
        { token: reader.token },
      );
    assert.equal(response.status, 200, JSON.stringify(response.body));
    events.push(...response.body.data);
    cursor = response.body.nextCursor;
  }
  return events;
}

/** Asserts sequences are exactly first, first+1, … with no gap and no repeat. */
export function assertGapFree(sequences: readonly number[], first = 1): void {
  sequences.forEach((sequence, index) => {
    assert.equal(
      sequence,
      first + index,
      `sequence ${first + index} expected at position ${index}`,
    );
  });
}
