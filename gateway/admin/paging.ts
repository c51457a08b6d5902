// The most a list reads; a page past it lies past the last page of any campus anyway.
const LAST_PAGE_READ = 100_000;
const MAX_PAGE_SIZE = 200;

/** What a console list is asked for in its address, made usable: a bad value is replaced and said so. */
export type PageRequest = { page: number; pageSize: number | undefined; notice: string | null };

const whole = (raw: string) => /^\d{1,9}$/.test(raw.trim()) && Number(raw) >= 1;
const quoted = (raw: string) => `“${raw.length > 20 ? `${raw.slice(0, 20)}…` : raw}”`;

/**
 * `?page=` and `?pageSize=` as typed or edited by hand: anything but a whole number from 1 gives the
 * first page (or the list's own size) and a notice, rather than an error page that names neither.
 */
export function pageRequest(query: { page?: unknown; pageSize?: unknown }): PageRequest {
  const notices: string[] = [];
  let page = 1;
  if (typeof query.page === 'string' && query.page !== '') {
    if (whole(query.page)) page = Math.min(Number(query.page), LAST_PAGE_READ);
    else notices.push(`${quoted(query.page)} is not a page number: this is page 1.`);
  }
  let pageSize: number | undefined;
  if (typeof query.pageSize === 'string' && query.pageSize !== '') {
    if (whole(query.pageSize) && Number(query.pageSize) <= MAX_PAGE_SIZE) pageSize = Number(query.pageSize);
    else
      notices.push(`${quoted(query.pageSize)} is not a page size from 1 to ${MAX_PAGE_SIZE}: the usual size is used.`);
  }
  return { page, pageSize, notice: notices.length > 0 ? notices.join(' ') : null };
}

/** Said when the page asked for lies past the last one, and the last one is shown instead. */
export function pastLastPage(asked: number, pages: number): string {
  return `There is no page ${asked}: the list ends at page ${pages}, shown here.`;
}

/**
 * Reads the page asked for, or the last one when it lies past it (an old link, a hand-edited address),
 * with what the list says of it: the request's own notice and that one.
 */
export async function readPageAsked<T extends { page: number; pages: number }>(
  asked: PageRequest,
  read: (page: number) => Promise<T>,
): Promise<{ result: T; notice: string | null }> {
  let result = await read(asked.page);
  const past = result.page > result.pages ? pastLastPage(result.page, result.pages) : null;
  if (past) result = await read(result.pages);
  return { result, notice: [asked.notice, past].filter(Boolean).join(' ') || null };
}
