import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { create, type ExpressHandlebars } from 'express-handlebars';
import { UTC_TEXT, utcText } from '../core/utc-text.ts';
import { PASSWORD_MAX, PASSWORD_MIN } from './accounts/password-length.ts';

export const viewsDir = fileURLToPath(new URL('../views/', import.meta.url));

/** What the time helper uses of Handlebars, which express-handlebars types as unknown. */
type HandlebarsMarkup = {
  SafeString: new (html: string) => unknown;
  Utils: { escapeExpression(text: string): string };
};

/**
 * A moment as a `<time>` element: its UTC text, which a page without JavaScript shows as it is, and
 * which /assets/local-times.js rewrites in the reader's own time zone and language from `datetime`.
 * Pages that print times load that script (the console's layout, the account page).
 */
function timeElement(value: unknown, escape: (text: string) => string): string {
  if (value === null || value === undefined || value === '') return '';
  const at = value instanceof Date ? value : new Date(String(value));
  if (Number.isNaN(at.getTime())) return escape(String(value));
  return `<time datetime="${at.toISOString()}" data-local>${utcText(at)}</time>`;
}

/**
 * A message (an error's, written for the CLI too) with each moment it names in UTC (core/utc-text.ts) as
 * a `<time>` element, for the page's script to show in the reader's zone; the rest escaped as text.
 */
function localTimesIn(value: unknown, escape: (text: string) => string): string {
  if (value === null || value === undefined) return '';
  return escape(String(value)).replace(UTC_TEXT, (said: string, date: string, time: string) => {
    const at = new Date(`${date}T${time}Z`);
    return Number.isNaN(at.getTime()) ? said : timeElement(at, escape);
  });
}

/** The campus's name (CAMPUS_NAME) of each engine, for the pages renderPage renders outside Express. */
const campusNames = new WeakMap<ExpressHandlebars, string>();

/**
 * One handlebars engine for Express views and for pages the OIDC provider renders itself; `campusName`
 * heads every page renderPage renders (Express views get it from `app.locals`).
 */
export function createViewEngine(options: { campusName?: string } = {}): ExpressHandlebars {
  const engine = create({
    extname: '.hbs',
    defaultLayout: 'main',
    layoutsDir: join(viewsDir, 'layouts'),
    partialsDir: join(viewsDir, 'partials'),
    helpers: {
      eq: (a: unknown, b: unknown) => a === b,
      or: (...args: unknown[]) => args.slice(0, -1).some(Boolean),
      includes: (list: unknown, item: unknown) => Array.isArray(list) && list.includes(item),
      json: (value: unknown) => JSON.stringify(value),
      add: (a: number, b: number) => a + b,
      sub: (a: number, b: number) => a - b,
      // The lengths a new password may have, for its field's limits and hint, as the schema checks them.
      passwordMin: () => PASSWORD_MIN,
      passwordMax: () => PASSWORD_MAX,
    },
  });
  // Markup, so built with this engine's own Handlebars, whose SafeString it leaves unescaped.
  const { SafeString, Utils } = engine.handlebars as unknown as HandlebarsMarkup;
  engine.helpers = {
    ...engine.helpers,
    localTime: (value: unknown) => new SafeString(timeElement(value, Utils.escapeExpression)),
    localTimesIn: (value: unknown) => new SafeString(localTimesIn(value, Utils.escapeExpression)),
  };
  if (options.campusName) campusNames.set(engine, options.campusName);
  return engine;
}

export async function renderPage(
  engine: ExpressHandlebars,
  view: string,
  context: Record<string, unknown>,
): Promise<string> {
  const campusName = campusNames.get(engine);
  return engine.renderView(join(viewsDir, `${view}.hbs`), {
    ...(campusName ? { campusName } : {}),
    ...context,
    layout: context.layout ?? 'main',
  } as never);
}
