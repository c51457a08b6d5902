import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campusPeople, startCampus, type Campus } from '../helpers/federation.ts';
import type { Presence } from '../../node/presence/presence-store.ts';

let campus: Campus;
let as: ReturnType<typeof campusPeople>;

beforeAll(async () => {
  campus = await startCampus('fed-presence');
  as = campusPeople(campus);
});
afterAll(async () => campus?.stop());

describe('presence across colleges', () => {
  it('shows someone of another college as online, and tells of their going and coming back', async () => {
    const bob = await as('bob', 'arts');
    const alice = await as('alice', 'eng');
    const heard: Presence[] = [];
    bob.on('presence', (p) => heard.push(p as Presence));

    const [now] = await bob.presence(['alice@eng.campus.test']);
    expect(now).toMatchObject({ address: 'alice@eng.campus.test', status: 'online' });

    alice.close();
    await expect
      .poll(() => heard.at(-1), { timeout: 10_000 })
      .toMatchObject({ address: 'alice@eng.campus.test', status: 'offline', lastSeen: expect.any(String) });
    const back = await as('alice', 'eng');
    await expect.poll(() => heard.at(-1)?.status, { timeout: 10_000 }).toBe('online');
    back.close();
    bob.close();
  });

  it("answers for people who were never online, and mixes its own domain's people in", async () => {
    const bob = await as('bob', 'arts');
    const result = await bob.presence(['dave@eng.campus.test', 'bob@arts.campus.test']);
    expect(result).toEqual(
      expect.arrayContaining([
        { address: 'dave@eng.campus.test', status: 'offline', lastSeen: null },
        expect.objectContaining({ address: 'bob@arts.campus.test', status: 'online' }),
      ]),
    );
    bob.close();
  });

  it('says nothing of people of a college the federation policy keeps apart', async () => {
    const bob = await as('bob', 'arts');
    const lena = await as('lena', 'law');
    expect(await lena.presence(['bob@arts.campus.test'])).toEqual([]);
    bob.close();
    lena.close();
  });
});
