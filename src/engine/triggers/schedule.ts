/**
 * Timer schedules: parses the expressions a timer trigger accepts and computes its firing times.
 * Dialects: standard 5-field cron (`min hour dom month dow`), 6-field cron with seconds first, AWS
 * EventBridge `cron(min hour dom month dow year)` with `?`, `L`, `W` and `#`, `rate(5 minutes)`,
 * and `@every 5m` (Go durations). Cron is read in the trigger's IANA time zone; `rate` and
 * `@every` tick at multiples of their interval since the Unix epoch, so every server computes the
 * same ticks (what lets a tick be claimed exactly once). A bad expression throws a validation
 * error saying what is wrong.
 */
import { Cron } from 'croner';
import { validationFailed } from '../../core/errors.js';

/** A parsed schedule: the first firing strictly after a time, if there is one. */
export interface Schedule {
  next(after: Date): Date | undefined;
}

/** Intervals shorter than this are refused: a timer is not a busy loop. */
const MIN_INTERVAL_MS = 1000;
/** How many candidate times a cron search may reject (year and `W` filters) before giving up. */
const MAX_REJECTED = 5000;

/** Checks an IANA time zone name; throws a validation error naming it when unknown. */
function assertTimezone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw validationFailed(
      `unknown time zone '${timezone}': use an IANA name such as UTC, Europe/Berlin or America/New_York`,
      { field: 'timezone' },
    );
  }
}

/** Parses `expression` read in `timezone`; throws VALIDATION_FAILED with the reason when invalid. */
export function parseSchedule(expression: string, timezone = 'UTC'): Schedule {
  assertTimezone(timezone);
  const text = expression.trim();
  if (text === '') throw invalid(expression, 'the schedule is empty');
  const rate = /^rate\((.*)\)$/i.exec(text);
  if (rate) return intervalSchedule(parseRate(rate[1]!.trim(), expression));
  const every = /^@every\s+(.+)$/i.exec(text);
  if (every) return intervalSchedule(parseGoDuration(every[1]!.trim(), expression));
  const aws = /^cron\((.*)\)$/i.exec(text);
  if (aws) return awsCron(aws[1]!.trim(), timezone, expression);
  const fields = text.split(/\s+/);
  if (fields.length === 5) return cronSchedule(['0', ...fields], timezone, expression);
  if (fields.length === 6) return cronSchedule(fields, timezone, expression);
  throw invalid(
    expression,
    `expected 5 cron fields (minute hour day-of-month month day-of-week), 6 (with seconds first), ` +
      `cron(...) with 6 AWS fields, rate(N unit) or @every DURATION; got ${fields.length} fields`,
  );
}

/** The next `count` firing times after `after`. */
export function nextFirings(schedule: Schedule, count: number, after: Date = new Date()): Date[] {
  const out: Date[] = [];
  let cursor = after;
  while (out.length < count) {
    const next = schedule.next(cursor);
    if (!next) break;
    out.push(next);
    cursor = next;
  }
  return out;
}

/**
 * The newest firing in (`after`, `until`], if any: what a timer missed while no server ran.
 * Looks back from `until` over windows that double in size, so it walks only the firings of the
 * first window that holds one, not every firing since `after` (a 1 s timer stopped for a month
 * has 2.6 million).
 */
export function newestFiring(schedule: Schedule, after: Date, until: Date): Date | undefined {
  const earliest = after.getTime();
  const end = until.getTime();
  for (let span = 1000; ; span *= 2) {
    const from = Math.max(earliest, end - span);
    let newest: Date | undefined;
    for (
      let next = schedule.next(new Date(from));
      next && next.getTime() <= end;
      next = schedule.next(next)
    ) {
      newest = next;
    }
    if (newest || from === earliest) return newest;
  }
}

function invalid(expression: string, reason: string): Error {
  return validationFailed(`invalid schedule '${expression}': ${reason}`, { field: 'schedule' });
}

function intervalSchedule(ms: number): Schedule {
  return { next: (after) => new Date((Math.floor(after.getTime() / ms) + 1) * ms) };
}

const RATE_UNITS: Record<string, number> = {
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** `5 minutes`, `1 hour`, `2 days` (AWS: singular with 1, plural otherwise). */
function parseRate(body: string, expression: string): number {
  const m = /^(\d+)\s+([a-z]+)$/i.exec(body);
  const unit = m ? RATE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw invalid(
      expression,
      'rate(...) takes a whole number and minute(s), hour(s) or day(s), e.g. rate(5 minutes)',
    );
  }
  const n = Number(m[1]);
  if (n < 1) throw invalid(expression, 'the rate must be at least 1');
  const singular = !m[2]!.toLowerCase().endsWith('s');
  if ((n === 1) !== singular) {
    const unitName = m[2]!.toLowerCase().replace(/s$/, '');
    throw invalid(expression, `write rate(1 ${unitName}) for one, rate(N ${unitName}s) for more`);
  }
  return n * unit;
}

const GO_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go durations as in `@every 1h30m`, `@every 90s`, `@every 500ms` (at least 1 s). */
function parseGoDuration(body: string, expression: string): number {
  const parts = [...body.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== body) {
    throw invalid(expression, '@every takes a duration such as 30s, 5m, 1h30m');
  }
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * GO_UNITS[p[2]!]!, 0);
  if (ms < MIN_INTERVAL_MS) throw invalid(expression, 'the interval must be at least 1s');
  return Math.round(ms);
}

interface CronFilters {
  /** Years allowed (AWS year field); undefined: any. */
  years?: (year: number) => boolean;
  /** AWS `W` in day-of-month: the day must be this function's answer for its month. */
  weekdayNear?: { day: number | 'L' };
}

/** AWS fields: minute hour day-of-month month day-of-week year. */
function awsCron(body: string, timezone: string, expression: string): Schedule {
  const f = body.split(/\s+/);
  if (f.length !== 6) {
    throw invalid(
      expression,
      `cron(...) takes 6 fields (minute hour day-of-month month day-of-week year); got ${f.length}`,
    );
  }
  const [minute, hour, dom, month, dow, year] = f as [string, string, string, string, string, string];
  if ((dom === '?') === (dow === '?')) {
    throw invalid(expression, 'AWS cron needs ? in exactly one of day-of-month and day-of-week');
  }
  const filters: CronFilters = {};
  let domField = dom === '?' ? '*' : dom;
  const w = /^(\d{1,2}|L)W$/.exec(domField);
  if (w) {
    const day = w[1] === 'L' ? 'L' : Number(w[1]);
    if (day !== 'L' && (day < 1 || day > 31))
      throw invalid(expression, `day ${day} is not a day of the month`);
    filters.weekdayNear = { day };
    domField = '*';
  } else if (domField.includes('W')) {
    throw invalid(expression, 'W takes one day of the month, e.g. 15W, or LW');
  }
  const dowField = dow === '?' ? '*' : awsDayOfWeek(dow, expression);
  if (year !== '*') filters.years = parseYears(year, expression);
  return cronSchedule(['0', minute, hour, domField, month, dowField], timezone, expression, filters);
}

/** AWS numbers days of the week 1 (Sunday) to 7 (Saturday); cron 0 to 6. Names stay as they are. */
function awsDayOfWeek(field: string, expression: string): string {
  const lastOf = /^(\w+)L$/.exec(field);
  if (lastOf) return `${awsDayOfWeek(lastOf[1]!, expression)}#L`;
  return field
    .split(',')
    .map((item) => {
      const [days, nth] = item.split('#') as [string, string | undefined];
      const shifted = days.replace(/\d+/g, (n) => {
        const v = Number(n);
        if (v < 1 || v > 7)
          throw invalid(expression, `day of week ${v} is out of range: AWS uses 1 (SUN) to 7 (SAT)`);
        return String(v - 1);
      });
      return nth === undefined ? shifted : `${shifted}#${nth}`;
    })
    .join(',');
}

function parseYears(field: string, expression: string): (year: number) => boolean {
  const ranges = field.split(',').map((item) => {
    const m = /^(\d{4})(?:-(\d{4}))?(?:\/(\d+))?$/.exec(item);
    if (!m)
      throw invalid(expression, `year '${item}' must be *, a year like 2027, a range 2027-2030 or a list`);
    const from = Number(m[1]);
    const to = m[2] ? Number(m[2]) : m[3] ? 2199 : from;
    const step = m[3] ? Number(m[3]) : 1;
    if (to < from || step < 1) throw invalid(expression, `year range '${item}' is empty`);
    return { from, to, step };
  });
  return (year) => ranges.some((r) => year >= r.from && year <= r.to && (year - r.from) % r.step === 0);
}

function cronSchedule(
  fields: string[],
  timezone: string,
  expression: string,
  filters: CronFilters = {},
): Schedule {
  if (fields.some((f) => f.includes('?'))) {
    // croner reads `?` as "the current time"; cron users mean "any".
    fields = fields.map((f) => (f === '?' ? '*' : f));
  }
  let cron: Cron;
  try {
    cron = new Cron(fields.join(' '), { timezone, paused: true, legacyMode: true });
  } catch (err) {
    throw invalid(expression, (err as Error).message.replace(/^CronPattern: /, ''));
  }
  const parts = zonedParts(timezone);
  const accept = (d: Date): boolean => {
    if (!filters.years && !filters.weekdayNear) return true;
    const p = parts(d);
    if (filters.years && !filters.years(p.year)) return false;
    if (filters.weekdayNear && p.day !== nearestWeekday(p.year, p.month, filters.weekdayNear.day))
      return false;
    return true;
  };
  const schedule: Schedule = {
    next(after) {
      let cursor = after;
      for (let rejected = 0; rejected <= MAX_REJECTED; rejected++) {
        const next = cron.nextRun(cursor);
        if (!next) return undefined;
        if (accept(next)) return next;
        // Skip the rest of a rejected day (or year) instead of walking it minute by minute.
        const p = parts(next);
        if (filters.years && !filters.years(p.year)) {
          let y = p.year + 1;
          while (y < 2200 && !filters.years(y)) y++;
          if (y >= 2200) return undefined;
          // 14 h before midnight UTC is before midnight in every time zone.
          cursor = new Date(Date.UTC(y, 0, 1) - 14 * 3_600_000);
        } else {
          cursor = new Date(
            next.getTime() + ((23 - p.hour) * 3600 + (59 - p.minute) * 60 + (59 - p.second)) * 1000,
          );
        }
      }
      return undefined;
    },
  };
  if (!schedule.next(new Date())) throw invalid(expression, 'it never fires');
  return schedule;
}

/** Day of month (1-based) of the weekday nearest to `day` in that month, never leaving the month. */
function nearestWeekday(year: number, month: number, day: number | 'L'): number {
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const target = day === 'L' ? last : Math.min(day, last);
  const weekday = new Date(Date.UTC(year, month - 1, target)).getUTCDay();
  if (weekday === 6) return target === 1 ? 3 : target - 1;
  if (weekday === 0) return target === last ? target - 2 : target + 1;
  return target;
}

interface ZonedParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function zonedParts(timezone: string): (d: Date) => ZonedParts {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  return (d) => {
    const out: Record<string, number> = {};
    for (const part of format.formatToParts(d))
      if (part.type !== 'literal') out[part.type] = Number(part.value);
    return out as unknown as ZonedParts;
  };
}
