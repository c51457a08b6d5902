import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operator } from '../../gateway/context.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { campusPeople, refusals, signedTransaction, startCampus, type Campus } from '../helpers/federation.ts';

/**
 * Someone moved to another college with "Move their chat": their groups follow them to their new address,
 * wherever each group is homed, keeping their role; the others go on writing to the same person.
 */
const CAROL_ARTS = 'carol@arts.campus.test';
const CAROL_ENG = 'carol@eng.campus.test';
const BOB = 'bob@arts.campus.test';
const DAVE = 'dave@eng.campus.test';

let campus: Campus;
let as: ReturnType<typeof campusPeople>;
const ops = () => ({ ...campus.gateway.context(null), actor: operator('test') });

beforeAll(async () => {
  campus = await startCampus('fed-moved-groups');
  as = campusPeople(campus);
}, 60_000);
afterAll(async () => {
  as?.close();
  await campus?.stop();
});

/** A member's row of a group on one node: its role and state, or null. */
async function memberOn(node: 'eng' | 'arts', conversationId: string, address: string) {
  const row = await campus.nodes[node].models.Member.findOne({ where: { conversationId, address } });
  return row ? { role: row.role, state: row.state } : null;
}

describe('the groups of someone whose chat moved to another college', () => {
  it('follow them to their new address with their role, on the old home and on another group home', {
    timeout: 60_000,
  }, async () => {
    const carolArts = await as('carol', 'arts');
    const dave = await as('dave', 'eng');
    const bob = await as('bob', 'arts');
    // Homed at her old college, hers; and homed at another, where she is an admin.
    const orchestra = await carolArts.createGroup('Campus Orchestra', [BOB, DAVE]);
    const robotics = await dave.createGroup('Robotics', [CAROL_ARTS]);
    await dave.setRole(robotics.id, CAROL_ARTS, 'admin');
    // One she was in at both addresses (she chatted at both colleges): one membership stays, the higher role.
    const ensemble = await dave.createGroup('Ensemble', [CAROL_ARTS, CAROL_ENG]);
    await dave.setRole(ensemble.id, CAROL_ARTS, 'admin');
    await bob.send({ conversationId: orchestra.id, text: 'Rehearsal at six' });
    const bobSees: { id: string; members: { address: string; role: string }[] }[] = [];
    bob.on('conversation', (view) => bobSees.push(view));

    // The new college is away when she moves: what it is to hear waits in the outbox.
    await campus.stopNode('eng');
    // As on her console page: Music unticked, Computer Science ticked (Electrical Engineering stays).
    await updateUser(ops(), 'carol', { units: ['campus/eng/ee', 'campus/eng/cs'], moveChat: true });
    await expect
      .poll(() => memberOn('arts', orchestra.id, CAROL_ENG), { timeout: 10_000 })
      .toEqual({ role: 'owner', state: 'active' });
    expect(await memberOn('arts', orchestra.id, CAROL_ARTS)).toEqual({ role: 'owner', state: 'left' });
    // The others' devices apply the move: the same person, owner still, at her new address.
    const bobsView = () =>
      bobSees
        .filter((v) => v.id === orchestra.id)
        .at(-1)
        ?.members.map((m) => `${m.address} ${m.role}`);
    await expect.poll(bobsView, { timeout: 5_000 }).toEqual(expect.arrayContaining([`${CAROL_ENG} owner`]));
    expect(bobsView()?.some((m) => m.startsWith(CAROL_ARTS))).toBe(false);

    await campus.restartNode('eng');
    await expect
      .poll(() => memberOn('eng', robotics.id, CAROL_ENG), { timeout: 20_000 })
      .toEqual({ role: 'admin', state: 'active' });
    expect(await memberOn('eng', robotics.id, CAROL_ARTS)).toEqual({ role: 'admin', state: 'left' });
    await expect
      .poll(() => memberOn('eng', ensemble.id, CAROL_ENG), { timeout: 10_000 })
      .toEqual({ role: 'admin', state: 'active' });
    expect(await memberOn('eng', ensemble.id, CAROL_ARTS)).toEqual({ role: 'admin', state: 'left' });
    // Her new college holds the group homed at the old one, with her as its owner.
    await expect
      .poll(() => memberOn('eng', orchestra.id, CAROL_ENG), { timeout: 20_000 })
      .toEqual({ role: 'owner', state: 'active' });

    // At her new address she has both groups, and what the others write reaches her there.
    const carolEng = await as('carol', 'eng');
    const titles = (await carolEng.conversations()).map((c) => c.title).sort();
    expect(titles).toEqual(['Campus Orchestra', 'Ensemble', 'Robotics']);
    const sent = await bob.send({ conversationId: orchestra.id, text: 'Welcome back, Carol' });
    await expect.poll(() => carolEng.messages.some((m) => m.id === sent.messageId), { timeout: 10_000 }).toBe(true);
    // The others' groups show the move as an entry of its own.
    const moved = await campus.nodes.arts.models.Message.findOne({
      where: { conversationId: orchestra.id, kind: 'system', sender: CAROL_ARTS },
      order: [['seq', 'DESC']],
    });
    expect(JSON.parse(moved!.body)).toMatchObject({ event: 'member.moved', members: [CAROL_ARTS], to: CAROL_ENG });

    // Told again (an outbox's retry), a home moves her once.
    const again = await signedTransaction(campus, 'arts', 'eng', [{ type: 'moved', from: CAROL_ARTS, to: CAROL_ENG }]);
    expect(again.status).toBe(200);
    const moves = await campus.nodes.eng.models.Message.count({
      where: { conversationId: robotics.id, sender: CAROL_ARTS, kind: 'system' },
    });
    expect(moves).toBe(1);
  });

  it('is told only by the domain left, and only as the directory bears it out', {
    timeout: 30_000,
  }, async () => {
    const dave = await as('dave', 'eng');
    const group = await dave.createGroup('Reading club', [BOB]);
    // Eng may not speak for an address of arts.
    const foreign = await signedTransaction(campus, 'eng', 'arts', [
      { type: 'moved', from: BOB, to: 'bob@eng.campus.test' },
    ]);
    expect(foreign.status).toBe(403);
    expect(foreign.body.error?.code).toBe('sender_not_of_origin');
    // Arts says Bob moved, but the directory has him at arts still: nothing changes.
    const untrue = await signedTransaction(campus, 'arts', 'eng', [
      { type: 'moved', from: BOB, to: 'bob@eng.campus.test' },
    ]);
    expect(untrue.status).toBe(200);
    expect(refusals(untrue)).toBeUndefined();
    expect(await memberOn('eng', group.id, BOB)).toEqual({ role: 'member', state: 'active' });
    expect(await memberOn('eng', group.id, 'bob@eng.campus.test')).toBeNull();
  });
});
