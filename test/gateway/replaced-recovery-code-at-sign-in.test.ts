import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent, formsOf, mainText, signInThrough } from '../helpers/browser-agent.ts';
import { addPerson, enrolAuthenticator, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { regenerateRecoveryCodes } from '../../gateway/factors/regenerate-recovery-codes.ts';
import { noticeTime } from '../../gateway/recovery/notice-mails.ts';

/**
 * At a sign-in's second step, after the password, a recovery code from a set newer codes replaced is
 * refused and counted as a wrong code, but said as what it is: the person looks for their newest codes.
 */
let gateway: TestGateway;

const accountUrl = () => `${gateway.issuer}/account/security`;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;

beforeAll(async () => {
  gateway = await startTestGateway('replaced-code-sign-in', { LOGIN_IP_LIMIT: '1000' });
}, 60_000);
afterAll(async () => gateway?.stop());

/** The second step's page after a code typed in its recovery-code field. */
async function typedAtSecondStep(username: string, code: string) {
  const agent = new BrowserAgent();
  const step = await signInThrough(agent, accountUrl(), username, DEMO_PASSWORD);
  const recoveryForm = formsOf(step.html)
    .filter((f) => f.action.includes('/code'))
    .at(-1)!;
  return agent.submit(step, recoveryForm, { code });
}

describe('a recovery code of a replaced set at sign-in', () => {
  it('says the set was replaced, and when, and counts as a wrong code', async () => {
    await addPerson(gateway, 'olga', { roles: ['staff'] });
    await enrolAuthenticator(gateway, 'olga');
    const olga = await userNamed('olga');
    const asOlga = {
      ...gateway.context(null),
      actor: { kind: 'user' as const, id: olga.id, name: olga.username, roles: olga.roles, unitPaths: [] },
    };
    const old = await regenerateRecoveryCodes(asOlga, olga);
    const newest = await regenerateRecoveryCodes(asOlga, olga);
    const replacedAt = await gateway.models.AuditEvent.findAll({
      where: { action: 'factor.recovery_codes', target: 'olga' },
      order: [['at', 'ASC']],
    });

    const refused = await typedAtSecondStep('olga', old[2]!);
    expect(refused.status).toBe(401);
    const said = mainText(refused);
    expect(said).toContain('That recovery code is from an older set, which new recovery codes replaced on ');
    expect(said).toContain('Only the codes of your newest set work.');
    expect(said).not.toContain('typing mistakes');
    // Said to the minute of the replacement (the audit entry's time, to within its second).
    const at = replacedAt.at(-1)!.at;
    expect([noticeTime(at), noticeTime(new Date(at.getTime() - 1000))].some((t) => said.includes(t))).toBe(true);
    expect((await userNamed('olga')).failedLogins).toBe(1);

    // A code never issued is still a typing mistake, as it was.
    const mistyped = await typedAtSecondStep('olga', 'abcde-fghjk');
    expect(mainText(mistyped)).toContain('Check it for typing mistakes');
    expect((await userNamed('olga')).failedLogins).toBe(2);

    // The newest set signs in.
    expect((await typedAtSecondStep('olga', newest[0]!)).url).toBe(accountUrl());
  });
});
