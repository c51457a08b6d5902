/** The time zone of the machine the app runs on, its default (LEAVE_TIME_ZONE sets another). */
export const machineTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** Whether `zone` is an IANA time zone this runtime knows (`Europe/Berlin`, `UTC`). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Today's date (`YYYY-MM-DD`) in `timeZone`: leave is taken in whole days of the campus's calendar, so
 * "today" is the campus's, not the server's clock in UTC nor the browser's.
 */
export function todayIn(timeZone: string, now = new Date()): string {
  const parts = new Intl.DateTimeFormat('en', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(now);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')}`;
}

/** Whether `date` (`YYYY-MM-DD`) is a day of the calendar: 2027-02-30 is not, though Date.parse takes it. */
export function isCalendarDay(date: string): boolean {
  const parsed = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === date;
}

const dayFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'UTC',
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  year: 'numeric',
});

/**
 * A day (`YYYY-MM-DD`) as people read it on a card or a page: "Thu 10 Dec 2026". The weekday is what an
 * approver checks first; the form keeps ISO dates, which the browser's date picker shows in its locale.
 * (en-GB writes "Thu, 10 Dec 2026"; the comma goes.)
 */
export function readableDay(date: string): string {
  return isCalendarDay(date) ? dayFormat.format(new Date(`${date}T00:00:00Z`)).replace(',', '') : date;
}
