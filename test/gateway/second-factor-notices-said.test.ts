import { TOTP, Secret } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  formsOf,
  mainText,
  signInThrough,
  submitFilled,
} from '../helpers/browser-agent.ts';
import { addPerson, type TestGateway } from '../helpers/gateway.ts';
import type { Mailbox, ReceivedMail } from '../helpers/mailbox.ts';
import { startMailingGateway } from '../helpers/mailing-gateway.ts';
import { passkeyWithCodes } from '../helpers/stored-passkey.ts';
import { audit } from '../../gateway/audit.ts';
import { operator, type GatewayContext } from '../../gateway/context.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { requireSecondFactor } from '../../gateway/factors/policy.ts';
import { resetFactorsOf } from '../../gateway/factors/reset-factors.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

/**
 * What a person is told of a change to their second factors, in the mail and on the page: who made it
 * decides what "nothing more to do" means, a reset says what their next sign-in asks of them, and a new
 * authenticator app says what became of their recovery codes.
 */
let gateway: TestGateway;
let mailbox: Mailbox;
let stop: (() => Promise<void>) | undefined;

const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const text = (mail: ReceivedMail) => mail.text.replace(/\r\n/g, '\n');
const helpdesk = (): GatewayContext => ({ ...gateway.context(null), actor: operator('helpdesk') });
const asThemselves = (): GatewayContext => ({ ...gateway.context(null), ip: '203.0.113.9' });
const deps = () => totpDeps(gateway.config.secretKey, gateway.issuer);

/** Sets up an authenticator app as its owner; the recovery codes it came with (none when kept). */
async function addApp(username: string): Promise<string[]> {
  const person = await userNamed(username);
  const binding = interactionBinding({ uid: `said-${username}` });
  const { secret } = await beginTotpEnrolment(asThemselves(), deps(), person, binding);
  const code = TOTP.generate({ secret: Secret.fromBase32(secret) });
  return confirmTotpEnrolment(asThemselves(), deps(), person, code, binding);
}

beforeAll(async () => {
  ({ gateway, mailbox, stop } = await startMailingGateway('notices-said', { LOGIN_IP_LIMIT: '1000' }));
}, 60_000);
afterAll(async () => {
  await stop?.();
});

describe('who made a change, in the closing of its notice', () => {
  it('asks the person whether they asked the helpdesk, not whether it was them, after a reset', async () => {
    await addPerson(gateway, 'hilde');
    await addApp('hilde');
    await mailbox.next('hilde@campus.test', { subject: 'An authenticator app was added to your Atrium account' });
    await resetFactorsOf(helpdesk(), 'hilde');
    const body = text(await mailbox.next('hilde@campus.test'));
    expect(body).toContain('\nBy: your campus administrators\n');
    expect(body).toContain(
      '\nIf you asked your campus helpdesk for this, there is nothing more to do.\nIf you did not ask for this, someone may have asked for it in your name: contact your campus helpdesk at once.\n',
    );
    expect(body).not.toContain('If this was you');
  });

  it('keeps "if this was you" for what the person did themselves', async () => {
    await addPerson(gateway, 'selma');
    await addApp('selma');
    const body = text(
      await mailbox.next('selma@campus.test', { subject: 'An authenticator app was added to your Atrium account' }),
    );
    expect(body).toContain('\nBy: you, signed in to your account\n');
    expect(body).toContain(
      '\nIf this was you, there is nothing more to do.\nIf this was not you, someone else is using your account',
    );
  });

  it('asks whether the person expected a change that came from the campus directory', async () => {
    await addPerson(gateway, 'dirk');
    // What a directory sync writes when an entry's address changed (gateway/directories/apply-page.ts).
    await audit(helpdesk(), {
      action: 'user.update',
      target: 'dirk',
      details: { directory: 'campus-ldap', before: { email: 'dirk@campus.test' }, changes: { email: 'dirk@new.test' } },
    });
    const body = text(await mailbox.next('dirk@campus.test'));
    expect(body).toContain('\nBy: your campus directory, from which Atrium takes your details\n');
    expect(body).toContain(
      '\nIf you expected this change (you asked for it, or made it in the campus directory), there is nothing more to do.\n',
    );
    expect(body).not.toContain('If this was you');
  });
});

describe('what a reset of the second factors asks of the person next', () => {
  it('says a second factor must be set up again where their unit requires one', async () => {
    await requireSecondFactor(helpdesk(), { kind: 'unit', value: 'campus/eng/ee' });
    await addPerson(gateway, 'emil', { units: ['campus/eng/ee'] });
    await addApp('emil');
    await mailbox.next('emil@campus.test', { subject: 'An authenticator app was added to your Atrium account' });
    await resetFactorsOf(helpdesk(), 'emil');
    const body = text(await mailbox.next('emil@campus.test'));
    expect(body).toContain(
      'You were signed out everywhere. Your campus requires a second factor for your account: when you next sign in, after your password, you will be asked to set one up again.',
    );
    expect(body).not.toContain('password alone');
  });

  it('says the password alone signs them in where nothing requires a second factor', async () => {
    await addPerson(gateway, 'nora', { units: ['campus/arts/music'] });
    await addApp('nora');
    await mailbox.next('nora@campus.test', { subject: 'An authenticator app was added to your Atrium account' });
    await resetFactorsOf(helpdesk(), 'nora');
    const body = text(await mailbox.next('nora@campus.test'));
    expect(body).toContain(
      'You were signed out everywhere. You now sign in with your password alone; you can set up a second factor again on your account page.',
    );
    expect(body).not.toContain('asked to set');
  });
});

describe('the recovery codes, when an authenticator app is added', () => {
  it('says new ones were made with a first app', async () => {
    await addPerson(gateway, 'fenna');
    expect(await addApp('fenna')).toHaveLength(10);
    const body = text(
      await mailbox.next('fenna@campus.test', { subject: 'An authenticator app was added to your Atrium account' }),
    );
    expect(body).toContain('Recovery codes were made with it, shown once to whoever set it up.');
    // The account never had codes: none "no longer work".
    expect(body).not.toContain('no longer work');
    expect(body).not.toContain('unchanged');
  });

  it('says they are unchanged where the person kept theirs, in the mail and on the page opened again', async () => {
    await addPerson(gateway, 'kasia');
    const saved = await passkeyWithCodes(gateway.context(null), (await userNamed('kasia')).id);
    const agent = new BrowserAgent();
    const accountUrl = `${gateway.issuer}/account/security`;
    const step = await signInThrough(agent, accountUrl, 'kasia', DEMO_PASSWORD);
    const recoveryForm = formsOf(step.html)
      .filter((f) => f.action.includes('/code'))
      .at(-1)!;
    const start = await agent.submit(step, recoveryForm, { code: saved[0]! });
    expect(start.url).toBe(accountUrl);
    const shown = await submitFilled(agent, start, filledFormWithAction(start, '/account/security/totp/start'));
    const secret = /id="totp-secret">([^<]+)</.exec(shown.html)![1]!.replace(/\s/g, '');
    const done = await agent.submit(shown, formWithAction(shown, '/account/security/totp'), {
      code: TOTP.generate({ secret: Secret.fromBase32(secret) }),
    });
    const unchanged =
      'Your recovery codes are unchanged: the ones you already keep still work, and no new ones were made.';
    expect(mainText(done)).toContain(unchanged);

    // Opened again (a reload): still what became of them, not that they were shown once.
    const again = await agent.navigate(done.url);
    expect(again.url).toBe(`${accountUrl}/recovery-codes`);
    expect(mainText(again)).toContain('Your authenticator is set up');
    expect(mainText(again)).toContain(unchanged);
    expect(mainText(again)).not.toMatch(/shown once/);

    const body = text(
      await mailbox.next('kasia@campus.test', { subject: 'An authenticator app was added to your Atrium account' }),
    );
    expect(body).toContain('Your recovery codes are unchanged: the ones you already keep still work.');
    expect(body).not.toContain('New recovery codes');
  });
});
