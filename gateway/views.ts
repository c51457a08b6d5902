import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { create, type ExpressHandlebars } from 'express-handlebars';

export const viewsDir = fileURLToPath(new URL('../views/', import.meta.url));

/** One handlebars engine for Express views and for pages the OIDC provider renders itself. */
export function createViewEngine(): ExpressHandlebars {
  return create({
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
      formatDate: (value: unknown) =>
        value ? new Date(String(value)).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : '',
    },
  });
}

export async function renderPage(
  engine: ExpressHandlebars,
  view: string,
  context: Record<string, unknown>,
): Promise<string> {
  return engine.renderView(join(viewsDir, `${view}.hbs`), { ...context, layout: context.layout ?? 'main' } as never);
}
