import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operator } from '../../gateway/context.ts';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { AtriumBot } from '../../sdk/bot.ts';
import { addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { jsonOf, runAtrium } from '../helpers/cli.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { botToken, register } from './helpers.ts';

const REDIRECT = 'http://localhost:9/cb';
const NOT_HERE = { APP_CALLBACKS_LOOPBACK: 'false' };

let gateway: TestGateway;
let eng: TestNode;
let app: Server;
let port: number;
/** Every request that reached the app, whatever it was. */
const reached: string[] = [];

beforeAll(async () => {
  gateway = await startTestGateway(
    'calls-here',
    { LOGIN_IP_LIMIT: '1000', ...NOT_HERE },
    { appLogoutRetry: { firstDelayMs: 500, maxTries: 3 } },
  );
  eng = await startTestNode(gateway, 'eng.campus.test', NOT_HERE);
  app = createServer((req, res) => {
    reached.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"toast":"done"}');
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  port = (app.address() as AddressInfo).port;
});
afterAll(async () => {
  await eng?.stop();
  await gateway?.stop();
  await new Promise((r) => app?.close(r));
});

describe('where the operator does not let the servers call this machine', () => {
  it("refuses an app's callback or logout URL at a loopback address when it is registered, and says why", async () => {
    const loopback = expect.stringContaining('must not point at this machine (loopback');
    await expect(
      register(gateway, {
        name: 'Inside job',
        redirectUris: [REDIRECT],
        interactionCallbackUrl: `http://127.0.0.1:${port}/atrium/callback`,
        backchannelLogoutUri: `https://[::ffff:127.0.0.1]:${port}/logout`,
      }),
    ).rejects.toMatchObject({ fields: { interactionCallbackUrl: loopback, backchannelLogoutUri: loopback } });

    // The CLI, as an operator uses it in production, says the same.
    const add = ['apps', 'add', '--name', 'Inside job', '--redirect-uri', REDIRECT, '--json'];
    const cli = await runAtrium(gateway.db, [...add, '--callback-url', 'http://[::1]:4000/x'], { env: NOT_HERE });
    expect(cli.code).not.toBe(0);
    expect(jsonOf(cli).error).toMatchObject({
      code: 'invalid_input',
      fields: {
        interactionCallbackUrl:
          'must not point at this machine (loopback: 127.0.0.0/8, ::1), which APP_CALLBACKS_LOOPBACK does not allow',
      },
    });
    expect(await gateway.models.App.count({ where: { name: 'Inside job' } })).toBe(0);
  });

  it('does not call a card callback whose host name resolves to this machine, and tells the person why', async () => {
    const desk = await register(gateway, {
      name: 'Front Desk',
      slug: 'front-desk',
      redirectUris: [REDIRECT],
      interactionCallbackUrl: `http://localhost:${port}/atrium/callback`,
      botEnabled: true,
    });
    const token = await botToken(gateway, desk, eng.url);
    const bot = new AtriumBot({ nodeUrl: eng.localUrl, token: () => token });
    const alice = await connectAs(gateway, eng, 'alice');
    try {
      const group = await alice.createGroup('Front desk', []);
      await alice.invite(group.id, ['front-desk@eng.campus.test']);
      const card = { title: 'Parcel for Alice', actions: [{ id: 'collect', label: 'Collected' }] };
      const { messageId } = await bot.sendCard({ conversationId: group.id }, card);

      const clicked = Date.now();
      await expect(alice.cardAction(messageId, 'collect')).rejects.toMatchObject({
        code: 'callback_failed',
        message:
          'Front Desk cannot be called from chat: its callback URL leads to an address this node does not call (loopback); nothing was done',
      });
      expect(Date.now() - clicked).toBeLessThan(2_000);
      expect(reached).toEqual([]);
    } finally {
      alice.close();
    }
  });

  it('sends no back-channel logout to a URI whose host name resolves to this machine, and gives it up', async () => {
    const nia = await addPerson(gateway, 'nia');
    const logoutUri = `http://localhost:${port}/backchannel-logout`;
    const wiki = await register(gateway, { name: 'Wiki', redirectUris: [REDIRECT], backchannelLogoutUri: logoutUri });
    await codeFlow(await discover(gateway.issuer, wiki.clientId, wiki.clientSecret), REDIRECT, 'nia');

    await updateUser({ ...gateway.context(null), actor: operator('test') }, nia.id, { status: 'disabled' });

    const audited = () =>
      gateway.models.AuditEvent.findAll({ where: { action: 'logout.backchannel', target: wiki.clientId } });
    await expect.poll(async () => (await audited()).map((e) => e.outcome)).toEqual(['failure']);
    const [event] = await audited();
    expect(JSON.parse(event!.details!)).toMatchObject({
      account: nia.id,
      tries: 1,
      error: expect.stringContaining('localhost (127.0.0.1) is this machine'),
    });
    expect(await gateway.models.AppLogout.count({ where: { clientId: wiki.clientId } })).toBe(0);
    expect(reached).toEqual([]);
  });
});
