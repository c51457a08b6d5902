import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent } from '../helpers/browser-agent.ts';
import { addPerson, type TestGateway } from '../helpers/gateway.ts';
import type { Mailbox } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { formWithAction } from '../helpers/browser-agent.ts';
import { resetPassword } from '../../gateway/accounts/update-user.ts';
import { WEAK_PASSWORD_REASONS } from '../../gateway/accounts/weak-passwords.ts';
import { operator } from '../../gateway/context.ts';

let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;
const admin = () => ({ ...gateway.context(null), actor: operator('admin') });

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('campus-wired', {
    MAIL_FROM: 'IT <no-reply@campus.test>',
    CAMPUS_NAME: 'Northfield University',
  }));
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe('a gateway with CAMPUS_NAME', () => {
  it('heads its sign-in page with it', async () => {
    const page = await new BrowserAgent().navigate(`${gateway.issuer}/`);
    expect(page.html).toContain('<h1>Sign in to Northfield University</h1>');
    expect(page.html).toContain('<title>Sign in · Northfield University</title>');
  });

  it('heads the pages the OIDC provider renders itself too', async () => {
    // Its error page, as an authorization request of an unknown app gets.
    const error = await new BrowserAgent().navigate(`${gateway.issuer}/auth?client_id=nobody&response_type=code`);
    expect(error.html).toContain('<title>Something went wrong · Northfield University</title>');
  });

  it('names it in a security notice and a reset mail', async () => {
    await addPerson(gateway, 'pat');
    await resetPassword(admin(), 'pat', 'correct horse battery staple 9');
    const notice = await mailbox.next('pat@campus.test');
    expect(notice.subject).toBe('Your Northfield University password was reset');
    expect(notice.text).toContain('Northfield University');
    const agent = new BrowserAgent();
    const page = await agent.navigate(`${gateway.issuer}/password/forgot`);
    const form = formWithAction(page, '/password/forgot');
    await agent.request(`${gateway.issuer}/password/forgot`, {
      method: 'POST',
      body: new URLSearchParams({ ...form.fields, identifier: 'pat' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const reset = await mailbox.next('pat@campus.test');
    expect(reset.subject).toBe('Reset your Northfield University password');
  });

  it('refuses a password made of it, and of the host', async () => {
    await addPerson(gateway, 'quinn');
    const refusal = (p: string) =>
      resetPassword(admin(), 'quinn', p).then(
        () => null,
        (e: { fields?: Record<string, string> }) => e.fields?.password,
      );
    expect(await refusal('Northfield!2026')).toBe(WEAK_PASSWORD_REASONS.place);
  });
});
