import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formWithAction, mainText, signInThrough } from '../helpers/browser-agent.ts';
import { addPerson, enrolAuthenticator, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { removeOwnTotp } from '../../gateway/factors/remove-totp.ts';
import { dropSecondFactorRequirement, requireSecondFactor } from '../../gateway/factors/policy.ts';

/**
 * A sign-in waits at its code step while the person, signed in in another window, removes their only
 * second factor. The step has nothing left to ask for: it must not ask for recovery codes that are gone.
 */
let gateway: TestGateway;

const accountUrl = () => `${gateway.issuer}/account/security`;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const asOperator = () => ({ ...gateway.context(null), actor: operator('test') });

beforeAll(async () => {
  gateway = await startTestGateway('factor-removed-during-sign-in', { LOGIN_IP_LIMIT: '1000' });
}, 60_000);
afterAll(async () => gateway?.stop());

/** A person with an authenticator app, at the code step of a sign-in; then the app removed by them elsewhere. */
async function atCodeStepThenRemoved(username: string, roles = ['student']) {
  await addPerson(gateway, username, { roles });
  await enrolAuthenticator(gateway, username);
  const agent = new BrowserAgent();
  const step = await signInThrough(agent, accountUrl(), username, DEMO_PASSWORD);
  expect(mainText(step)).toContain('Open your authenticator app');
  await removeOwnTotp(gateway.context(null), await userNamed(username));
  return { agent, step };
}

describe('a sign-in at the code step when the person removed their only second factor meanwhile', () => {
  it('finishes with the password when none is required, instead of asking for recovery codes', async () => {
    const { agent, step } = await atCodeStepThenRemoved('rosa');
    const reloaded = await agent.navigate(step.url);
    expect(reloaded.url).toBe(accountUrl());
    expect(mainText(reloaded)).not.toContain('Enter one of your recovery codes');
    expect((await userNamed('rosa')).failedLogins).toBe(0);
  });

  it('takes a code posted from the page left open to the step decided again, counting no wrong code', async () => {
    const { agent, step } = await atCodeStepThenRemoved('ravi');
    const posted = await agent.submit(step, formWithAction(step, '/code'), { code: '123456' });
    expect(posted.url).toBe(accountUrl());
    expect((await userNamed('ravi')).failedLogins).toBe(0);
  });

  it('goes on to setting one up where one is now required', async () => {
    const { agent, step } = await atCodeStepThenRemoved('rhea', ['staff']);
    await requireSecondFactor(asOperator(), { kind: 'role', value: 'staff' });
    try {
      const reloaded = await agent.navigate(step.url);
      expect(reloaded.status).toBe(200);
      expect(mainText(reloaded)).toContain('Set up a second factor');
      expect(mainText(reloaded)).not.toContain('Enter one of your recovery codes');
    } finally {
      await dropSecondFactorRequirement(asOperator(), { kind: 'role', value: 'staff' });
    }
  });
});
