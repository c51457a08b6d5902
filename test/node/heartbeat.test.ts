import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, startTestNode, type TestNode } from '../helpers/node.ts';

let gateway: TestGateway;
let eng: TestNode;
beforeAll(async () => {
  gateway = await startTestGateway('im-heartbeat');
  // One person's 30 sockets show the pings spread: more than a person may open by default.
  eng = await startTestNode(gateway, 'eng.campus.test', { HEARTBEAT_SECONDS: '1', SOCKETS_PER_PERSON: '30' });
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
});

describe('heartbeat', () => {
  it('drops a client that stopped answering pings, and shows its person offline', async () => {
    const watcher = await connectAs(gateway, eng, 'alice');
    const who = await login(gateway, 'dave');
    // A client whose network vanished: it never answers the node's pings.
    const silent = new WebSocket(
      `${eng.localUrl.replace('http', 'ws')}/ws`,
      ['atrium.v1', `atrium.token.${await who.tokenFor(eng.url)}`],
      { autoPong: false },
    );
    await new Promise((resolve) => silent.once('message', resolve));
    expect((await watcher.presence(['dave@eng.campus.test']))[0]!.status).toBe('online');
    const closed = await new Promise<number>((resolve) => silent.once('close', resolve));
    expect(closed).toBe(1006);
    await expect.poll(async () => (await watcher.presence(['dave@eng.campus.test']))[0]!.status).toBe('offline');
    watcher.close();
  });

  it('pings its sockets spread over the interval, not all at once', async () => {
    const who = await login(gateway, 'carol');
    const token = await who.tokenFor(eng.url);
    const sockets = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const ws = new WebSocket(`${eng.localUrl.replace('http', 'ws')}/ws`, ['atrium.v1', `atrium.token.${token}`]);
        await new Promise((resolve) => ws.once('message', resolve));
        return ws;
      }),
    );
    // The first ping each socket gets after all are open (the interval is 1 s, in 100-ms slices).
    const start = Date.now();
    const firstPings = await Promise.all(
      sockets.map((ws) => new Promise<number>((resolve) => ws.once('ping', () => resolve(Date.now() - start)))),
    );
    for (const ws of sockets) ws.terminate();
    const spread = Math.max(...firstPings) - Math.min(...firstPings);
    expect(spread).toBeGreaterThanOrEqual(300);
    expect(Math.max(...firstPings)).toBeLessThan(2_500);
  });

  it('keeps a client that answers', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    // Two and a half intervals by the node's clock, slice by slice (100 ms each), with a moment of real
    // time after each for the client's pongs to arrive.
    for (let i = 0; i < 25; i++) {
      eng.clock.advance(100);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(alice.state).toBe('online');
    alice.close();
  });
});
