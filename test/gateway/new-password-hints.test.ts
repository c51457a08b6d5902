import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction, signInThrough, type Page } from '../helpers/browser-agent.ts';
import { addPerson, signInToConsole, type TestGateway } from '../helpers/gateway.ts';
import { resetLinkIn, type Mailbox } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { PASSWORD_MAX, PASSWORD_MIN, passwordSchema } from '../../gateway/accounts/schemas.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;
const url = (path: string) => `${gateway.issuer}${path}`;

/**
 * The fewest characters a new password may have, as the gateway checks it: the one constant the pages say
 * too (every test here checks they carry it), so a page cannot drift from the check.
 */
const minimum = (() => {
  let n = 1;
  while (!passwordSchema.safeParse('x'.repeat(n)).success) n++;
  return n;
})();

/** An input's opening tag, by its id. */
const inputOf = (page: Page, id: string) => new RegExp(`<input id="${id}"[^>]*>`).exec(page.html)?.[0] ?? '';

/** What a screen reader says after an input's label: the text of each element its aria-describedby names. */
function descriptionOf(page: Page, id: string): string[] {
  const ids = / aria-describedby="([^"]*)"/.exec(inputOf(page, id))?.[1]?.split(' ') ?? [];
  return ids.map((ref) => new RegExp(`id="${ref}"[^>]*>([^<]*)<`).exec(page.html)?.[1] ?? `(no ${ref})`);
}

/** The ids of the inputs the page focuses as it opens. */
const autofocused = (page: Page) => [...page.html.matchAll(/<input id="([^"]+)"[^>]* autofocus[ >]/g)].map((m) => m[1]);

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('new-password-hints', { LOGIN_IP_LIMIT: '1000' }));
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe('choosing a new password', () => {
  it('is checked against the same minimum the pages are given', () => {
    expect(minimum).toBe(PASSWORD_MIN);
    expect(passwordSchema.safeParse('x'.repeat(PASSWORD_MAX + 1)).success).toBe(false);
    expect(passwordSchema.safeParse('x'.repeat(PASSWORD_MAX)).success).toBe(true);
  });

  it('says how long it may be before it is sent, and after a mismatch focuses the first field, where the error is said', async () => {
    await addPerson(gateway, 'nia');
    const agent = new BrowserAgent();
    const forgot = await agent.navigate(url('/password/forgot'));
    await agent.submit(forgot, formWithAction(forgot, '/password/forgot'), { identifier: 'nia' });
    const page = await agent.navigate(resetLinkIn(await mailbox.next('nia@campus.test')));
    expect(descriptionOf(page, 'password')).toEqual([`${minimum} to ${PASSWORD_MAX} characters.`]);
    expect(inputOf(page, 'password')).toContain(`minlength="${minimum}"`);
    expect(autofocused(page)).toEqual(['password']);

    const differing = await agent.submit(page, formWithAction(page, '/password/reset/'), {
      password: 'long enough secret',
      confirmation: 'long enough secreT',
    });
    expect(differing.status).toBe(400);
    // Both fields are empty again: the first is to be typed first, and the mismatch is said there.
    expect(descriptionOf(differing, 'password')).toEqual([
      `${minimum} to ${PASSWORD_MAX} characters.`,
      'Type the same new password twice.',
    ]);
    expect(autofocused(differing)).toEqual(['password']);

    const short = await agent.submit(differing, formWithAction(differing, '/password/reset/'), {
      password: 'short',
      confirmation: 'short',
    });
    expect(descriptionOf(short, 'password')).toEqual([
      `${minimum} to ${PASSWORD_MAX} characters.`,
      `Use at least ${minimum} characters.`,
    ]);
    expect(autofocused(short)).toEqual(['password']);
  });

  it('says how long it must be on the account page, and keeps saying it beside an error', async () => {
    await addPerson(gateway, 'noor');
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'noor', DEMO_PASSWORD);
    const page = await agent.navigate(url('/account/security'));
    expect(descriptionOf(page, 'new-password')).toEqual([`At least ${minimum} characters.`]);
    expect(inputOf(page, 'new-password')).toContain(`minlength="${minimum}"`);
    expect(inputOf(page, 'new-password')).toContain(`maxlength="${PASSWORD_MAX}"`);
    expect(inputOf(page, 'new-password-again')).toContain(`minlength="${minimum}"`);
    expect(inputOf(page, 'new-password-again')).toContain(`maxlength="${PASSWORD_MAX}"`);

    const short = await agent.submit(page, formWithAction(page, '/account/security/password'), {
      current: DEMO_PASSWORD,
      password: 'short',
      confirmation: 'short',
    });
    expect(short.status).toBe(400);
    expect(descriptionOf(short, 'new-password')).toEqual([
      `At least ${minimum} characters.`,
      `The new password is not acceptable: at least ${minimum} characters.`,
    ]);
    expect(autofocused(short)).toEqual(['new-password']);
  });

  it('says how long it must be in the console, on a new account and on a password reset', async () => {
    await addPerson(gateway, 'nell');
    const nell = (await gateway.models.User.findOne({ where: { username: 'nell' } }))!;
    const { agent } = await signInToConsole(gateway.issuer, 'admin');
    const created = await agent.navigate(url('/admin/users/new'));
    expect(created.status).toBe(200);
    expect(descriptionOf(created, 'password')[0]).toMatch(new RegExp(`^At least ${minimum} characters\\. `));
    expect(inputOf(created, 'password')).toContain(`minlength="${minimum}"`);
    const edit = await agent.navigate(url(`/admin/users/${nell.id}`));
    expect(edit.status).toBe(200);
    expect(descriptionOf(edit, 'new-password')[0]).toMatch(new RegExp(`^At least ${minimum} characters\\. `));
    expect(inputOf(edit, 'new-password')).toContain(`minlength="${minimum}"`);
  });
});
