import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addDays, isCalendarDate, nextDueDate } from './schedule.ts';

/** Walks `count` due dates of an order from its start date. */
function dueDates(frequency: 'daily' | 'weekly' | 'monthly', start: string, count: number) {
  const dates = [start];
  while (dates.length < count) {
    dates.push(nextDueDate(frequency, start, dates.at(-1) ?? start));
  }
  return dates;
}

describe('standing order due dates', () => {
  it('monthly on the 29th to 31st runs on the last day of shorter months, then returns', () => {
    const cases: Array<[string, string[]]> = [
      ['2027-01-31', ['2027-01-31', '2027-02-28', '2027-03-31', '2027-04-30', '2027-05-31']],
      ['2028-01-31', ['2028-01-31', '2028-02-29', '2028-03-31', '2028-04-30', '2028-05-31']],
      ['2027-01-30', ['2027-01-30', '2027-02-28', '2027-03-30', '2027-04-30', '2027-05-30']],
      ['2027-01-29', ['2027-01-29', '2027-02-28', '2027-03-29', '2027-04-29', '2027-05-29']],
      ['2027-11-30', ['2027-11-30', '2027-12-30', '2028-01-30', '2028-02-29', '2028-03-30']],
      ['2027-12-31', ['2027-12-31', '2028-01-31', '2028-02-29', '2028-03-31', '2028-04-30']],
      ['2027-01-15', ['2027-01-15', '2027-02-15', '2027-03-15', '2027-04-15', '2027-05-15']],
    ];
    for (const [start, expected] of cases) {
      assert.deepEqual(dueDates('monthly', start, expected.length), expected, start);
    }
  });

  it('daily and weekly step across month and year ends', () => {
    assert.deepEqual(dueDates('daily', '2027-12-30', 4), [
      '2027-12-30',
      '2027-12-31',
      '2028-01-01',
      '2028-01-02',
    ]);
    assert.deepEqual(dueDates('weekly', '2028-02-22', 3), [
      '2028-02-22',
      '2028-02-29',
      '2028-03-07',
    ]);
    assert.equal(addDays('2028-02-28', 1), '2028-02-29');
    assert.equal(addDays('2027-02-28', 1), '2027-03-01');
  });

  it('accepts only real calendar dates', () => {
    for (const good of ['2027-01-31', '2028-02-29', '1970-01-01']) assert.ok(isCalendarDate(good));
    for (const bad of [
      '2027-02-29',
      '2027-04-31',
      '2027-13-01',
      '2027-00-10',
      '27-01-01',
      '2027-1-1',
      '',
    ]) {
      assert.ok(!isCalendarDate(bad), bad);
    }
  });
});
