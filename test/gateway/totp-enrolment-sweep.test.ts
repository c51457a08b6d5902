import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret, TOTP } from 'otpauth';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { operator } from '../../gateway/context.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { EnrolmentClosedError, FactorAlreadyEnrolledError } from '../../gateway/factors/errors.ts';
import {
  beginTotpEnrolment,
  confirmTotpEnrolment,
  hasConfirmedTotp,
  sweepTotpEnrolments,
  totpDeps,
} from '../../gateway/factors/totp.ts';

/**
 * The periodic sweep of authenticator secrets shown during a setup nobody finished: once the setup's ten
 * minutes are over the sealed secret goes, while confirmed authenticators and setups still open stay.
 */
let gateway: TestGateway;
const userNamed = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!;
const deps = () => totpDeps(gateway.config.secretKey, gateway.issuer);
const codeFor = (secret: string) => TOTP.generate({ secret: Secret.fromBase32(secret) });
const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);

/** Shows `username` a new key under a sign-in of their own, as if `minutes` ago; returns the secret shown. */
async function setupStarted(username: string, minutes: number): Promise<string> {
  const user = await userNamed(username);
  const { secret } = await beginTotpEnrolment(
    gateway.context(null),
    deps(),
    user,
    interactionBinding({ uid: username }),
  );
  await gateway.models.TotpFactor.update({ createdAt: minutesAgo(minutes) }, { where: { userId: user.id } });
  return secret;
}

beforeAll(async () => {
  gateway = await startTestGateway('totp-sweep');
  for (const username of ['ada', 'ben', 'cat', 'dan', 'eve']) {
    await createUser(
      { ...gateway.context(null), actor: operator('test') },
      {
        username,
        displayName: `Test ${username}`,
        email: `${username}@campus.test`,
        units: ['campus/eng/cs'],
        roles: ['student'],
        password: DEMO_PASSWORD,
      },
    );
  }
});
afterAll(async () => gateway?.stop());

describe('sweeping authenticator setups nobody finished', () => {
  it('removes a key left unconfirmed past ten minutes, and keeps a confirmed authenticator and an open setup', async () => {
    // Ada set up her authenticator a day ago; Ben scanned a key eleven minutes ago and never entered a code;
    // Cat is nine minutes into her setup.
    const ada = await userNamed('ada');
    const adaSecret = await setupStarted('ada', 0);
    await confirmTotpEnrolment(
      gateway.context(null),
      deps(),
      ada,
      codeFor(adaSecret),
      interactionBinding({ uid: 'ada' }),
    );
    await gateway.models.TotpFactor.update({ createdAt: minutesAgo(24 * 60) }, { where: { userId: ada.id } });
    const adaBefore = (await gateway.models.TotpFactor.findByPk(ada.id))!.get({ plain: true });
    const benSecret = await setupStarted('ben', 11);
    const catSecret = await setupStarted('cat', 9);

    expect(await sweepTotpEnrolments(gateway.models)).toBe(1);

    const ben = await userNamed('ben');
    expect(await gateway.models.TotpFactor.findByPk(ben.id)).toBeNull();
    expect((await gateway.models.TotpFactor.findByPk(ada.id))!.get({ plain: true })).toEqual(adaBefore);
    expect(await hasConfirmedTotp(gateway.context(null), ada.id)).toBe(true);

    // Ben's late code is answered as before the sweep: the setup has expired, and he gets a new key.
    await expect(
      confirmTotpEnrolment(gateway.context(null), deps(), ben, codeFor(benSecret), interactionBinding({ uid: 'ben' })),
    ).rejects.toBeInstanceOf(EnrolmentClosedError);
    expect(await setupStarted('ben', 0)).not.toBe(benSecret);

    // Cat finishes hers within the ten minutes, with the key she was shown.
    const cat = await userNamed('cat');
    const codes = await confirmTotpEnrolment(
      gateway.context(null),
      deps(),
      cat,
      codeFor(catSecret),
      interactionBinding({ uid: 'cat' }),
    );
    expect(codes).toHaveLength(10);
    expect(await hasConfirmedTotp(gateway.context(null), cat.id)).toBe(true);
  });

  it('starts a new setup for a person whose expired one the sweep takes while the new key is being made', async () => {
    const dan = await userNamed('dan');
    const stale = await setupStarted('dan', 11);
    // The sweep runs after the gateway read Dan's expired setup and before it writes his new key over it.
    let swept = 0;
    gateway.models.TotpFactor.addHook('beforeBulkUpdate', 'sweep-between', async () => {
      swept += await sweepTotpEnrolments(gateway.models);
    });
    let secret: string;
    try {
      ({ secret } = await beginTotpEnrolment(gateway.context(null), deps(), dan, interactionBinding({ uid: 'dan' })));
    } finally {
      gateway.models.TotpFactor.removeHook('beforeBulkUpdate', 'sweep-between');
    }
    expect(swept).toBe(1);
    expect(secret).not.toBe(stale);
    const codes = await confirmTotpEnrolment(
      gateway.context(null),
      deps(),
      dan,
      codeFor(secret),
      interactionBinding({ uid: 'dan' }),
    );
    expect(codes).toHaveLength(10);
  });

  it('still keeps an authenticator confirmed in another window while a new setup was being made', async () => {
    const eve = await userNamed('eve');
    await setupStarted('eve', 11);
    const confirmedAt = new Date();
    gateway.models.TotpFactor.addHook('beforeBulkUpdate', 'confirm-between', async () => {
      await gateway.models.TotpFactor.update(
        { confirmedAt, binding: null },
        { where: { userId: eve.id }, hooks: false },
      );
    });
    const before = (await gateway.models.TotpFactor.findByPk(eve.id))!.secret;
    try {
      await expect(
        beginTotpEnrolment(gateway.context(null), deps(), eve, interactionBinding({ uid: 'eve' })),
      ).rejects.toBeInstanceOf(FactorAlreadyEnrolledError);
    } finally {
      gateway.models.TotpFactor.removeHook('beforeBulkUpdate', 'confirm-between');
    }
    const kept = (await gateway.models.TotpFactor.findByPk(eve.id))!;
    expect(kept.secret).toBe(before);
    expect(kept.confirmedAt).toEqual(confirmedAt);
  });
});
