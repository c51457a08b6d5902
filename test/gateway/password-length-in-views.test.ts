import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { viewsDir } from '../../gateway/views.ts';

/**
 * The lengths a new password may have are said by one constant (accounts/password-length.ts), which every
 * view takes through the helpers `passwordMin` and `passwordMax`: a view that wrote a number of its own
 * could say another length than the gateway checks, and the pages with new-password fields
 * (new-password-hints.test.ts) would show it only where a test happens to look.
 */
function viewFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return viewFiles(path);
    return entry.name.endsWith('.hbs') ? [path] : [];
  });
}

/** Each new password's field of every view, with the text of the hint it is described by. */
function newPasswordFields(): { view: string; input: string; hint: string }[] {
  return viewFiles(viewsDir).flatMap((file) => {
    const source = readFileSync(file, 'utf8');
    const inputs = [...source.matchAll(/<input\b[^>]*\btype="password"[^>]*>/g)]
      .map((m) => m[0])
      .filter(
        (input) => input.includes('autocomplete="new-password"') && /\bname="(password|confirmation)"/.test(input),
      );
    return inputs.map((input) => {
      const hintId = /aria-describedby="([\w-]+-hint)/.exec(input)?.[1];
      const hint = hintId ? (new RegExp(`id="${hintId}"[^>]*>(.*?)</p>`).exec(source)?.[1] ?? '') : '';
      return { view: relative(viewsDir, file), input, hint };
    });
  });
}

describe('the lengths of a new password in the views', () => {
  it('come from the helpers in every field and hint, never a number written in a view', () => {
    const fields = newPasswordFields();
    // The account page, the console's new-account and reset forms, the reset link's page, and the sign-in's
    // step that replaces a temporary password.
    expect(new Set(fields.map((f) => f.view))).toEqual(
      new Set(['partials/account-password.hbs', 'admin/user-form.hbs', 'password-reset.hbs', 'choose-password.hbs']),
    );
    for (const { view, input, hint } of fields) {
      for (const [, attribute, value] of input.matchAll(/\b(minlength|maxlength)="([^"]*)"/g))
        expect({ view, attribute, value }).toEqual({
          view,
          attribute,
          value: attribute === 'minlength' ? '{{passwordMin}}' : '{{passwordMax}}',
        });
      expect(hint.replace(/\{\{[^}]*\}\}/g, ''), `the hint in ${view}`).not.toMatch(/\d/);
    }
    // The hints looked at are there: one beside each view's first field (two in the console's form).
    expect(fields.filter((f) => f.hint.includes('{{passwordMin}}'))).toHaveLength(5);
    // Each view says the minimum where its first field is.
    for (const view of new Set(fields.map((f) => f.view)))
      expect(fields.some((f) => f.view === view && f.input.includes('minlength="{{passwordMin}}"'))).toBe(true);
  });
});
