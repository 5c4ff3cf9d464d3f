/**
 * Due dates of standing orders: pure calendar arithmetic on `YYYY-MM-DD` strings (UTC
 * calendar days), so the rules can be tested without a clock or a database.
 *
 * - daily: every day from the start date; weekly: every seventh day;
 * - monthly: on the start date's day of the month, or on the last day of a month that is
 *   shorter (an order started on the 31st runs on 28 or 29 February, 30 April, then 31 May
 *   again: the day is always taken from the start date, never from the previous run).
 */
export type Frequency = 'daily' | 'weekly' | 'monthly';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Whether a string is a real calendar date `YYYY-MM-DD` (no 31 April, no 2027-02-29). */
export function isCalendarDate(value: string): boolean {
  const match = DATE.exec(value);
  if (match === null) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (year < 1970 || month < 1 || month > 12 || day < 1) return false;
  return day <= daysInMonth(year, month);
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function parts(date: string): [number, number, number] {
  const match = DATE.exec(date);
  if (match === null) throw new Error(`not a date: ${date}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

function format(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

export function addDays(date: string, days: number): string {
  const [year, month, day] = parts(date);
  const next = new Date(Date.UTC(year, month - 1, day + days));
  return format(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate());
}

/** The UTC calendar day of an instant. */
export function utcDate(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

/** The due date after `due` for an order that started on `startDate`. */
export function nextDueDate(frequency: Frequency, startDate: string, due: string): string {
  if (frequency === 'daily') return addDays(due, 1);
  if (frequency === 'weekly') return addDays(due, 7);
  const [, , anchorDay] = parts(startDate);
  const [year, month] = parts(due);
  const nextYear = month === 12 ? year + 1 : year;
  const nextMonth = month === 12 ? 1 : month + 1;
  return format(nextYear, nextMonth, Math.min(anchorDay, daysInMonth(nextYear, nextMonth)));
}
