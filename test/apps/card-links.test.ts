import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { AtriumBot } from '../../sdk/bot.ts';
import type { Card, Message } from '../../sdk/client.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { asOperator, botToken, nodeApi, register } from './helpers.ts';

const ALICE = 'alice@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
let app: Server;
/** Every request the app's server got: a card click would be a POST to its callback URL. */
const calls: string[] = [];
let token: string;
let bot: AtriumBot;
let alice: Awaited<ReturnType<typeof connectAs>> & { messages: Message[] };

const booking: Card = {
  title: 'Lab 2 is booked for you',
  fields: [{ label: 'When', value: 'Friday 14:00' }],
  actions: [
    { label: 'Open in Room Bookings', url: 'https://rooms.campus.test/bookings/12?tab=details' },
    { id: 'open-too', label: 'Details', url: 'https://rooms.campus.test/bookings/12', style: 'primary' },
    { id: 'cancel', label: 'Cancel it', style: 'danger' },
  ],
};

beforeAll(async () => {
  gateway = await startTestGateway('card-links');
  eng = await startTestNode(gateway, 'eng.campus.test');
  await pinDomainKeys(asOperator(gateway), 'eng.campus.test');
  app = createServer((req, res) => {
    calls.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const rooms = await register(gateway, {
    name: 'Room Bookings',
    slug: 'rooms',
    redirectUris: ['http://localhost:9/cb'],
    interactionCallbackUrl: `http://127.0.0.1:${(app.address() as AddressInfo).port}/atrium/callback`,
    botEnabled: true,
  });
  token = await botToken(gateway, rooms, eng.url);
  bot = new AtriumBot({ nodeUrl: eng.localUrl, token: () => token });
  const sdk = await connectAs(gateway, eng, 'alice');
  alice = Object.assign(sdk, { messages: [] as Message[] });
  alice.on('message', (m) => alice.messages.push(m));
});
afterAll(async () => {
  alice?.close();
  await eng?.stop();
  await gateway?.stop();
  await new Promise((r) => app?.close(r));
});

const post = (card: unknown) =>
  nodeApi(eng.localUrl, '/api/v1/bot/messages', token, { method: 'POST', body: { to: ALICE, card } });
const withLink = (url: unknown) => ({
  title: 'Your booking',
  actions: [
    { id: 'cancel', label: 'Cancel' },
    { label: 'Open', url },
  ],
});

describe('a link on a card', () => {
  it('reaches every member as a link, and a click on it is never sent to the app', async () => {
    const { messageId } = await bot.sendCard({ to: ALICE }, booking);
    await expect
      .poll(() => alice.messages.find((m) => m.id === messageId))
      .toMatchObject({
        kind: 'card',
        card: { actions: booking.actions },
      });
    // A client that draws no cards still has the link, in the card's text.
    const shown = alice.messages.find((m) => m.id === messageId)!;
    expect(shown.text).toContain('Open in Room Bookings: https://rooms.campus.test/bookings/12?tab=details');
    // A link's id names no action the app takes: a click "on" it is refused, and the app hears nothing.
    await expect(alice.cardAction(messageId, 'open-too')).rejects.toMatchObject({ code: 'unknown_action' });
    expect(calls).toEqual([]);
    // The card's buttons still go to the app.
    await alice.cardAction(messageId, 'cancel').catch(() => undefined);
    expect(calls).toEqual(['POST /atrium/callback']);
  });

  it('refuses a link that is not a web address, or too long, naming the field, and posts nothing', async () => {
    const messages = await eng.models.Message.count();
    const refused = [
      ['javascript:alert(document.cookie)', 'must use https (http is allowed only for localhost)'],
      ['data:text/html,<script>alert(1)</script>', 'must use https (http is allowed only for localhost)'],
      ['ftp://files.campus.test/a', 'must use https (http is allowed only for localhost)'],
      ['http://rooms.campus.test/b', 'must use https (http is allowed only for localhost)'],
      ['rooms.campus.test/bookings/12', 'an absolute URL'],
      ['https://rooms.campus.test@phish.test/login', 'must not contain a user name or password'],
      [`https://rooms.campus.test/${'a'.repeat(2000)}`, 'at most 2000 characters'],
      [42, expect.any(String)],
    ] as const;
    for (const [url, why] of refused) {
      const answer = await post(withLink(url));
      expect(answer, String(url)).toMatchObject({
        status: 400,
        body: { error: { code: 'invalid_input', fields: { 'card.actions.1.url': why } } },
      });
    }
    // An action that is neither a button (an id) nor a link (a url) is named too.
    expect((await post({ title: 'T', actions: [{ label: 'Nothing' }] })).body.error.fields).toEqual({
      'card.actions.0.id': 'required (or a url, for a link)',
    });
    expect(await eng.models.Message.count()).toBe(messages);
  });

  it('may lead to http on this machine, as an app on a demo campus is', async () => {
    const answer = await post(withLink('http://localhost:8080/bookings/12'));
    expect(answer.status).toBe(201);
    expect(await post(withLink('https://rooms.campus.test/' + 'a'.repeat(1970)))).toMatchObject({ status: 201 });
  });

  it('refuses a bad link when a bot updates its card, naming the field', async () => {
    const { messageId } = await bot.sendCard({ to: ALICE }, booking);
    const answer = await nodeApi(eng.localUrl, `/api/v1/bot/messages/${messageId}`, token, {
      method: 'PATCH',
      body: { card: withLink('javascript:void(0)') },
    });
    expect(answer).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input', fields: { 'card.actions.1.url': expect.any(String) } } },
    });
  });
});
