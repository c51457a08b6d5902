import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCallbackVerifier, type CardCallback } from '../../protocol/verify-callback.ts';
import { AtriumBot } from '../../sdk/bot.ts';
import type { Card } from '../../sdk/client.ts';
import { botToken, register } from '../apps/helpers.ts';
import { campusPeople, signedPost, startCampus, type Campus } from '../helpers/federation.ts';

let campus: Campus;
let as: ReturnType<typeof campusPeople>;
let app: Server;
let callbackSecret: string;
let bot: AtriumBot;
const clicks: CardCallback[] = [];

const poll: Card = {
  title: 'Study group: which evening?',
  actions: [
    { id: 'tue', label: 'Tuesday' },
    { id: 'thu', label: 'Thursday' },
  ],
};

// The app answers an approval with a toast only, so the card keeps its actions.
const approval: Card = {
  title: 'Leave request from Bob',
  actions: [
    { id: 'approve', label: 'Approve', style: 'primary' },
    { id: 'reject', label: 'Reject', style: 'danger' },
  ],
};

beforeAll(async () => {
  campus = await startCampus('fed-cards');
  as = campusPeople(campus);
  const verify = createCallbackVerifier({ secret: () => callbackSecret });
  app = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      verify({ headers: req.headers, body }).then(
        (event) => {
          clicks.push(event);
          const card: Card = { title: poll.title, text: `${event.user.name} chose ${event.actionId}`, actions: [] };
          const answer = event.actionId === 'approve' ? { toast: 'Approved.' } : { card, toast: 'Noted.' };
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
        },
        () => res.writeHead(401).end(),
      );
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const registered = await register(campus.gateway, {
    name: 'Study Polls',
    slug: 'polls',
    redirectUris: ['http://localhost:9/cb'],
    interactionCallbackUrl: `http://127.0.0.1:${(app.address() as AddressInfo).port}/atrium/callback`,
    botEnabled: true,
  });
  callbackSecret = registered.callbackSecret!;
  const token = await botToken(campus.gateway, registered, campus.nodes.eng.url);
  bot = new AtriumBot({ nodeUrl: campus.nodes.eng.url, token: () => token });
});
afterAll(async () => {
  await campus?.stop();
  await new Promise((resolve) => app?.close(resolve));
});

describe('cards across colleges', () => {
  it("sends a click by a member of another college to the app through the group's home, and updates the card everywhere", async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const group = await alice.createGroup('History of science study group', ['bob@arts.campus.test']);
    await alice.invite(group.id, ['polls@eng.campus.test']);
    const ack = await bot.sendCard({ conversationId: group.id }, poll);
    await expect
      .poll(() => bob.messages.find((m) => m.id === ack.messageId)?.card, { timeout: 15_000 })
      .toMatchObject(poll);

    const result = await bob.cardAction(ack.messageId, 'thu');
    expect(result).toMatchObject({ messageId: ack.messageId, actionId: 'thu', updated: true, toast: 'Noted.' });
    expect(clicks.at(-1)).toMatchObject({
      messageId: ack.messageId,
      conversationId: group.id,
      actionId: 'thu',
      user: { address: 'bob@arts.campus.test', name: 'Bob Martin' },
      app: 'polls',
    });
    for (const member of [alice, bob]) {
      await expect
        .poll(() => member.messages.find((m) => m.kind === 'card.update' && m.refId === ack.messageId)?.card, {
          timeout: 15_000,
        })
        .toMatchObject({ text: 'Bob Martin chose thu', actions: [] });
    }

    // The card no longer offers the action, at home or through another college.
    await expect(bob.cardAction(ack.messageId, 'tue')).rejects.toMatchObject({ code: 'unknown_action' });
    alice.close();
    bob.close();
  });

  it('runs a click relayed by another college once: the same signed request sent again is refused, and the app not called', async () => {
    const alice = await as('alice', 'eng');
    const bob = await as('bob', 'arts');
    const group = await alice.createGroup('Leave requests', ['bob@arts.campus.test']);
    await alice.invite(group.id, ['polls@eng.campus.test']);
    const ack = await bot.sendCard({ conversationId: group.id }, approval);
    await expect
      .poll(() => bob.messages.find((m) => m.id === ack.messageId)?.card, { timeout: 15_000 })
      .toMatchObject(approval);

    // The request arts's node sends for bob's click, exactly as it goes through the proxy.
    const { send } = await signedPost(campus, 'arts', 'eng', '/federation/v1/card-action', {
      messageId: ack.messageId,
      actionId: 'approve',
      user: { address: 'bob@arts.campus.test', name: 'Bob Martin' },
    });
    const before = clicks.length;
    expect((await send()).status).toBe(200);
    expect(clicks).toHaveLength(before + 1);

    // The very same bytes and headers, a moment later.
    const replay = await send();
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: { code: 'replayed_request' } });
    expect(clicks).toHaveLength(before + 1);

    // Bob clicking again is another request, which his node signs anew: the app hears it.
    expect(await bob.cardAction(ack.messageId, 'approve')).toMatchObject({ toast: 'Approved.' });
    expect(clicks).toHaveLength(before + 2);
    alice.close();
    bob.close();
  });
});
