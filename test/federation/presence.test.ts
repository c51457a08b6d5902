import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campusPeople, startCampus, type Campus } from '../helpers/federation.ts';
import { addPerson } from '../helpers/gateway.ts';
import { openRaw } from '../helpers/raw-socket.ts';
import type { Presence } from '../../node/presence/presence-store.ts';
import { MAX_WATCHED_PER_DOMAIN } from '../../node/federation/presence.ts';
import { PRESENCE_WATCH_BURST, PRESENCE_WATCHES_PER_SECOND } from '../../node/ws/handlers.ts';
import { MAX_WATCHED_PER_SOCKET } from '../../node/ws/registry.ts';

/** Addresses nobody has, `count` of them, at a domain (of Engineering unless told). */
const madeUp = (prefix: string, count: number, domain = 'eng.campus.test') =>
  Array.from({ length: count }, (_, i) => `${prefix}-${i}@${domain}`);

/** How many requests the proxy (every request between the campus's nodes) takes while `run` runs. */
async function forwardedDuring(run: () => Promise<unknown>): Promise<number> {
  let forwarded = 0;
  // Questions only: a change told meanwhile (/presence/changed, someone connecting) is not one.
  const count = (req: { url?: string }) => {
    if (req.url?.split('?')[0]?.endsWith('/federation/v1/presence')) forwarded += 1;
  };
  campus.proxy.server.on('request', count);
  try {
    await run();
  } finally {
    campus.proxy.server.off('request', count);
  }
  return forwarded;
}

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

  it('asks no node about people of domains nobody registered, nor of one the policy keeps apart', async () => {
    const bob = await as('bob', 'arts');
    const elsewhere = Array.from({ length: 100 }, (_, i) => `someone@college-${i}.campus.test`);
    let answer: Presence[] = [];
    const forwarded = await forwardedDuring(async () => {
      answer = await bob.presence([...elsewhere, 'lena@law.campus.test']);
    });
    expect(answer).toEqual([]);
    expect(forwarded).toBe(0);
    bob.close();
  });

  it("answers and watches only another college's people who exist, and does not ask again at once about the others", async () => {
    const bob = await as('bob', 'arts');
    const ghosts = madeUp('ghost', 3);
    const asked = [...ghosts, 'dave@eng.campus.test'];
    let answer: Presence[] = [];
    expect(await forwardedDuring(async () => (answer = await bob.presence(asked)))).toBe(1);
    expect(answer.map((p) => p.address)).toEqual(['dave@eng.campus.test']);
    // Arts hears of Dave's changes from now on, and of nobody made up.
    expect(campus.nodes.eng.federation.presence.unwatched('arts.campus.test', asked)).toEqual(ghosts);
    // Asked again, Arts answers from what it was told (Dave) and what it was not (the ghosts), asking nobody.
    expect(await forwardedDuring(async () => (answer = await bob.presence(asked)))).toBe(0);
    expect(answer.map((p) => p.address)).toEqual(['dave@eng.campus.test']);
    bob.close();
  });

  it('keeps a device hearing of the people it asked about last, not of those it asked about before them', async () => {
    await addPerson(campus.gateway, 'olga');
    await addPerson(campus.gateway, 'petra');
    const [OLGA, PETRA] = ['olga@eng.campus.test', 'petra@eng.campus.test'];
    const alice = await as('alice', 'eng');
    const heard: Presence[] = [];
    alice.on('presence', (p) => heard.push(p as Presence));
    await alice.presence([OLGA, ...madeUp('stranger', MAX_WATCHED_PER_SOCKET - 2), PETRA]);
    // Ten more: the ten it asked about longest ago (Olga the first of them) are no longer told of.
    await alice.presence(madeUp('newcomer', 10));
    const olga = await as('olga', 'eng');
    const petra = await as('petra', 'eng');
    await expect.poll(() => heard.map((p) => p.address)).toContain(PETRA);
    expect(heard.map((p) => p.address)).not.toContain(OLGA);
    // Asked about again, she is told of again.
    await alice.presence([OLGA]);
    olga.close();
    await expect.poll(() => heard.find((p) => p.address === OLGA)?.status).toBe('offline');
    petra.close();
    alice.close();
  });

  it('lets a socket start watching 1,000 addresses at once and 10 a second after, refusing more and watching none of them', async () => {
    const eng = campus.nodes.eng;
    const alice = await as('alice', 'eng');
    const raw = await openRaw(eng.localUrl, ['atrium.v1', `atrium.token.${await alice.login.tokenFor(eng.url)}`]);
    await raw.next((f) => f.type === 'ready');
    const query = (id: string, addresses: string[]) => {
      raw.send({ v: 1, id, type: 'presence.query', addresses });
      return raw.next((f) => f.re === id);
    };
    const [DAVE, PETRA] = ['dave@eng.campus.test', 'petra@eng.campus.test'];
    const half = PRESENCE_WATCH_BURST / 2;
    const watched = [...madeUp('crowd-b', half - 1), PETRA];
    expect(await query('q1', madeUp('crowd-a', half))).toMatchObject({ type: 'presence.result' });
    expect(await query('q2', watched)).toMatchObject({ type: 'presence.result' });
    // Naming again whom it watches costs nothing; new ones beyond the allowance are refused.
    expect(await query('q3', watched)).toMatchObject({ type: 'presence.result' });
    const more = [DAVE, ...madeUp('crowd-c', 99)];
    const refused = await query('q4', more);
    expect(refused).toMatchObject({ type: 'error', code: 'rate_limited' });
    // It says when to ask again, as the frame limit does, so a client does not guess.
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    // Dave was not watched: the socket hears of Petra coming, not of Dave before her.
    const dave = await as('dave', 'eng');
    const petra = await as('petra', 'eng');
    await raw.next((f) => f.type === 'presence' && f.address === PETRA);
    expect(raw.frames.filter((f) => f.type === 'presence' && f.address === DAVE)).toEqual([]);
    // Once the allowance has grown back, the same query is answered.
    eng.clock.advance((more.length / PRESENCE_WATCHES_PER_SECOND) * 1000);
    expect(await query('q5', more)).toMatchObject({ type: 'presence.result' });
    raw.socket.close();
    for (const device of [dave, petra, alice]) device.close();
  });

  it('holds at most 20,000 watches of another domain, letting go of those it asked about longest ago', () => {
    const { presence } = campus.nodes.eng.federation;
    const many = madeUp('watched', MAX_WATCHED_PER_DOMAIN + 1);
    presence.watchedBy('law.campus.test', many);
    expect(presence.watchedCount('law.campus.test')).toBe(MAX_WATCHED_PER_DOMAIN);
    expect(presence.unwatched('law.campus.test', [many[0]!, many[1]!, many.at(-1)!])).toEqual([many[0]]);
  });

  // Last: the campus's clocks move 11 minutes on.
  it("lets another domain's watches go after 10 minutes, though nobody's presence changed", async () => {
    const { presence } = campus.nodes.eng.federation;
    expect(presence.watchedCount('arts.campus.test')).toBeGreaterThan(0);
    campus.advanceClocks(11 * 60_000);
    expect(presence.watchedCount('arts.campus.test')).toBe(0);
    expect(presence.watchedCount('law.campus.test')).toBe(0);
  });
});
