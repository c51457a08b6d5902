import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, login, startTestNode, type TestNode } from '../helpers/node.ts';

let gateway: TestGateway;
let eng: TestNode;
beforeAll(async () => {
  gateway = await startTestGateway('im-heartbeat');
  eng = await startTestNode(gateway, 'eng.campus.test', { HEARTBEAT_SECONDS: '1' });
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
    const silent = new WebSocket(`${eng.localUrl.replace('http', 'ws')}/ws`, ['atrium.v1', `atrium.token.${await who.tokenFor(eng.url)}`], { autoPong: false });
    await new Promise((resolve) => silent.once('message', resolve));
    expect((await watcher.presence(['dave@eng.campus.test']))[0]!.status).toBe('online');
    const closed = await new Promise<number>((resolve) => silent.once('close', resolve));
    expect(closed).toBe(1006);
    await expect.poll(async () => (await watcher.presence(['dave@eng.campus.test']))[0]!.status).toBe('offline');
    watcher.close();
  });

  it('keeps a client that answers', async () => {
    const alice = await connectAs(gateway, eng, 'alice');
    await new Promise((r) => setTimeout(r, 2_500));
    expect(alice.state).toBe('online');
    alice.close();
  });
});
