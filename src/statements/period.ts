import { CorebankError } from '../errors.ts';

/**
 * Calendar months as instants. A statement covers one calendar month of a time zone (UTC
 * unless `STATEMENT_TIME_ZONE` names another): from local midnight on the 1st, inclusive,
 * to the last millisecond before local midnight on the 1st of the next month. Postings
 * carry millisecond timestamps, so an inclusive end at `…59.999` is exact: a posting at
 * 23:59:59.999 belongs to the month, one at 00:00:00.000 to the next.
 */
export interface Period {
  /** `YYYY-MM`. */
  month: string;
  /** First instant of the period, ISO 8601 UTC. */
  from: string;
  /** Last instant of the period, inclusive, ISO 8601 UTC (now, for the current month). */
  to: string;
  /** True when the month is still running and the statement is month-to-date. */
  toDate: boolean;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The wall-clock fields of an instant in a time zone. */
export function wallClock(
  instantMs: number,
  timeZone: string,
): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const fields: Record<string, number> = {};
  for (const part of formatterOf(timeZone).formatToParts(new Date(instantMs))) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return {
    year: fields.year ?? 0,
    month: fields.month ?? 0,
    day: fields.day ?? 0,
    hour: fields.hour ?? 0,
    minute: fields.minute ?? 0,
    second: fields.second ?? 0,
  };
}

/** How far the zone's wall clock is ahead of UTC at an instant, in milliseconds. */
function offsetMs(instantMs: number, timeZone: string): number {
  const w = wallClock(instantMs, timeZone);
  const wallAsUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return wallAsUtc - (instantMs - (((instantMs % 1000) + 1000) % 1000));
}

/** The instant of local midnight starting a day in a time zone. */
export function localMidnight(year: number, month: number, day: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day);
  if (timeZone === 'UTC') return wall;
  // Two passes settle the offset when midnight is near a daylight-saving change.
  let instant = wall - offsetMs(wall, timeZone);
  instant = wall - offsetMs(instant, timeZone);
  return instant;
}

/** The `YYYY-MM` month an instant falls in, in a time zone. */
export function monthOf(instantMs: number, timeZone: string): string {
  const w = wallClock(instantMs, timeZone);
  return `${String(w.year).padStart(4, '0')}-${String(w.month).padStart(2, '0')}`;
}

/**
 * The period of a `YYYY-MM` month in a time zone, as of `nowMs`. The current month ends now
 * (month to date); a month that has not begun is refused.
 */
export function periodOf(month: string, timeZone: string, nowMs: number): Period {
  const match = MONTH.exec(month);
  const year = Number(match?.[1]);
  const monthNumber = Number(match?.[2]);
  if (match === null || year < 1970) {
    throw new CorebankError('VALIDATION_FAILED', 'month must look like 2026-11', 'month');
  }
  const fromMs = localMidnight(year, monthNumber, 1, timeZone);
  const nextMs =
    monthNumber === 12
      ? localMidnight(year + 1, 1, 1, timeZone)
      : localMidnight(year, monthNumber + 1, 1, timeZone);
  if (fromMs > nowMs) {
    throw new CorebankError('VALIDATION_FAILED', 'that month has not begun yet', 'month');
  }
  const toDate = nextMs > nowMs;
  return {
    month,
    from: new Date(fromMs).toISOString(),
    to: new Date(toDate ? nowMs : nextMs - 1).toISOString(),
    toDate,
  };
}

/** `YYYY-MM-DD HH:MM` of an instant in a time zone, for printed statements. */
export function localDateTime(iso: string, timeZone: string): string {
  const w = wallClock(Date.parse(iso), timeZone);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${w.year}-${two(w.month)}-${two(w.day)} ${two(w.hour)}:${two(w.minute)}`;
}

/** `YYYY-MM-DD` of an instant in a time zone. */
export function localDate(iso: string, timeZone: string): string {
  return localDateTime(iso, timeZone).slice(0, 10);
}

const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses an ISO 8601 instant with an explicit offset (`Z` or `±HH:MM`) into the canonical
 * stored form (`toISOString`, millisecond precision: digits beyond are truncated, which
 * keeps "at or before" exact against millisecond timestamps). Anything else is refused.
 */
export function parseInstant(input: string, field: string): string {
  const match = INSTANT.exec(input);
  const ms = match === null ? Number.NaN : Date.parse(input.replace(/(\.\d{3})\d+/, '$1'));
  const year = Number(match?.[1]);
  if (match === null || Number.isNaN(ms) || year < 1970 || year > 9999) {
    throw new CorebankError(
      'VALIDATION_FAILED',
      `${field} must be an ISO 8601 instant with an offset, e.g. 2026-11-30T23:59:59Z`,
      field,
    );
  }
  // Date.parse accepts impossible days (2026-02-31 rolls over); refuse them.
  const check = new Date(Date.UTC(year, Number(match[2]) - 1, Number(match[3])));
  if (check.getUTCMonth() !== Number(match[2]) - 1 || check.getUTCDate() !== Number(match[3])) {
    throw new CorebankError('VALIDATION_FAILED', `${field} is not a real date`, field);
  }
  return new Date(ms).toISOString();
}
