import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { BrowserAgent, filledFormWithAction, mainText, signInThrough, submitFilled } from '../helpers/browser-agent.ts';
import { addPerson, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, portalClient, startTestNode, type TestNode } from '../helpers/node.ts';
import { storedPasskey } from '../helpers/stored-passkey.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';

/**
 * "Reset second factor" is what an administrator does for a lost or stolen phone or key, which is signed in
 * as the person: the reset signs them out everywhere too, as "Sign out everywhere" does, and says so.
 */
let gateway: TestGateway;
let eng: TestNode;
let admin: BrowserAgent;

const url = (path: string) => `${gateway.issuer}${path}`;

/** A passkey row as if registered on the lost device (the reset removes it; nothing here uses its key). */
const lostPasskey = (userId: string) => storedPasskey(gateway.models, userId, 'Phone');

beforeAll(async () => {
  gateway = await startTestGateway('reset-factors');
  eng = await startTestNode(gateway, 'eng.campus.test');
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

describe('"Reset second factor" in the console', () => {
  it('signs the person out everywhere: chat, tokens and the account page end, and the notice says so', async () => {
    const kim = await addPerson(gateway, 'kim');
    // The lost phone: signed in to chat, holding tokens, and on the account page.
    const phone = await connectAs(gateway, eng, 'kim', await login(gateway, 'kim'));
    const ended = new Promise<{ code: number }>((resolve) => phone.on('ended', resolve));
    const accountPage = new BrowserAgent();
    await signInThrough(accountPage, url('/account/security'), 'kim', DEMO_PASSWORD);
    expect((await accountPage.navigate(url('/account/security'))).html).toContain('Signed in as <strong>kim</strong>');
    await lostPasskey(kim.id);

    const page = await admin.navigate(url(`/admin/users/${kim.id}`));
    expect(mainText(page)).toContain('signs them out everywhere, the lost device included');
    const done = await submitFilled(admin, page, filledFormWithAction(page, '/reset-factors'), { understood: 'yes' });
    expect(done.status).toBe(200);
    expect(mainText(done)).toContain(
      'Reset the second factor of kim and signed them out everywhere; they set up a second factor again at their next sign-in where it is required.',
    );
    expect(mainText(done)).toContain('None set up.');

    // No token comes any more, and, told at once, the node closes the socket for good (not a reconnect).
    await expect(phone.login.tokenFor(eng.url)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(ended).resolves.toMatchObject({ code: 4409 });
    expect((await accountPage.navigate(url('/account/security'))).html).not.toContain(
      'Signed in as <strong>kim</strong>',
    );
    const [event] = await gateway.models.AuditEvent.findAll({ where: { action: 'user.reset_factors', target: 'kim' } });
    expect(event?.actorName).toBe('admin');
    expect(JSON.parse(event!.details!)).toMatchObject({ passkeys: 1, signedOutEverywhere: true });
    expect(JSON.parse(event!.details!).endedArtefacts).toBeGreaterThan(0);
    // The account itself is untouched: kim signs in again with the password.
    await expect(login(gateway, 'kim')).resolves.toBeTruthy();
    phone.close();
  });

  it('keeps the console session of an administrator who resets their own', async () => {
    const admins = await gateway.models.User.findOne({ where: { username: 'admin' } });
    const elsewhere = await login(gateway, 'admin');
    await lostPasskey(admins!.id);
    const page = await admin.navigate(url(`/admin/users/${admins!.id}`));
    const done = await submitFilled(admin, page, filledFormWithAction(page, '/reset-factors'), { understood: 'yes' });
    expect(mainText(done)).toContain('Reset the second factor of admin and signed them out everywhere');
    const portal = await portalClient(gateway);
    await expect(client.refreshTokenGrant(portal, elsewhere.refreshToken)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    const still = await admin.navigate(url('/admin/users'));
    expect(still.url).toBe(url('/admin/users'));
  });
});
