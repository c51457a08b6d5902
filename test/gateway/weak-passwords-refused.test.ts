import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  htmlText,
  signInThrough,
  submitFilled,
} from '../helpers/browser-agent.ts';
import { addPerson, signInToConsole, type TestGateway } from '../helpers/gateway.ts';
import { RESET_SUBJECT, resetLinkIn, type Mailbox } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;

const url = (path: string) => `${gateway.issuer}${path}`;
const userNamed = (username: string) => gateway.models.User.findOne({ where: { username } });
const hashOf = async (username: string) => (await userNamed(username))!.passwordHash;
/** The text shown at the password field, whichever form it is on. */
const fieldError = (html: string, id: string) => htmlText(new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(html)?.[1] ?? '');

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('weak-pw', { LOGIN_IP_LIMIT: '1000' }));
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe('a password too easy to guess', () => {
  it('is refused on the reset page with the reason at the field, keeping the link and the old password', async () => {
    await addPerson(gateway, 'wendy');
    const agent = new BrowserAgent();
    const forgot = await agent.navigate(url('/password/forgot'));
    await agent.submit(forgot, formWithAction(forgot, '/password/forgot'), { identifier: 'wendy' });
    const mail = await mailbox.next('wendy@campus.test');
    expect(mail.subject).toBe(RESET_SUBJECT);
    const link = resetLinkIn(mail);
    const before = await hashOf('wendy');
    for (const [password, reason] of [
      ['password12', 'It is one of the most common passwords.'],
      ['Wendy2026!!', 'It is mostly your username.'],
      ['1234567890', 'It is a run of keyboard keys or repeated characters.'],
    ] as const) {
      const page = await agent.navigate(link);
      const refused = await agent.submit(page, formWithAction(page, '/password/reset/'), {
        password,
        confirmation: password,
      });
      expect(refused.status, password).toBe(400);
      expect(fieldError(refused.html, 'password-error'), password).toContain(reason);
    }
    expect(await hashOf('wendy')).toBe(before);
    const page = await agent.navigate(link);
    const chosen = await agent.submit(page, formWithAction(page, '/password/reset/'), {
      password: 'quiet lantern over the bay',
      confirmation: 'quiet lantern over the bay',
    });
    expect(chosen.status).toBe(200);
    expect(await hashOf('wendy')).not.toBe(before);
  });

  it('is refused on the account page with the reason at the field, and changes nothing', async () => {
    await addPerson(gateway, 'yusuf');
    const agent = new BrowserAgent();
    await signInThrough(agent, url('/account/security'), 'yusuf', DEMO_PASSWORD);
    const page = await agent.navigate(url('/account/security'));
    const before = await hashOf('yusuf');
    const refused = await agent.submit(page, formWithAction(page, '/account/security/password'), {
      current: DEMO_PASSWORD,
      password: 'Password2026!',
      confirmation: 'Password2026!',
    });
    expect(refused.status).toBe(400);
    expect(fieldError(refused.html, 'password-error')).toContain('It is one of the most common passwords.');
    expect(await hashOf('yusuf')).toBe(before);
    const audited = await gateway.models.AuditEvent.findAll({ where: { action: 'password.change', target: 'yusuf' } });
    expect(audited.map((e) => [e.outcome, JSON.parse(e.details!).reason])).toEqual([['failure', 'invalid_input']]);
  });

  it('is refused in the console, for a new person and for a password set for someone, at the field', async () => {
    const { agent } = await signInToConsole(gateway.issuer, 'admin');
    const before = await gateway.models.User.count();
    const form = await agent.navigate(url('/admin/users/new'));
    const created = await submitFilled(agent, form, filledFormWithAction(form, '/admin/users'), {
      passwordChoice: 'now',
      username: 'zara',
      displayName: 'Zara Quinn',
      email: 'zara@campus.test',
      password: 'qwertyuiop',
      units: ['campus/eng/cs'],
      roles: ['student'],
    });
    expect(created.status).toBe(400);
    expect(fieldError(created.html, 'password-error')).toContain(
      'It is a run of keyboard keys or repeated characters.',
    );
    expect(await gateway.models.User.count()).toBe(before);

    const victor = await addPerson(gateway, 'victor');
    const edit = await agent.navigate(url(`/admin/users/${victor.id}`));
    const reset = await submitFilled(agent, edit, filledFormWithAction(edit, '/password'), {
      password: 'Victor2026!!',
    });
    expect(reset.status).toBe(400);
    expect(fieldError(reset.html, 'new-password-error')).toContain('It is mostly your username.');
    expect(await hashOf('victor')).toBe(victor.passwordHash);
  });
});
