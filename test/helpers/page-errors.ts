import type { Page } from 'playwright-core';

/** What goes wrong in `page` from now on that a person would not see: script errors, and Content-Security-Policy refusals. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text()))
      errors.push(`csp: ${message.text()}`);
  });
  return errors;
}
