import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayFromToday, startLeaveApprovalFor } from '../helpers/leave-approval.ts';
import { CALLBACK_HEADERS, callbackSignature } from '../../protocol/callback-signature.ts';
import type { LeaveApp } from '../../examples/leave-approval/main.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import type { Message } from '../../sdk/client.ts';
import {
  BrowserAgent,
  filledFormWithAction,
  formWithAction,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { connectAs, startTestNode, type Login, type TestNode } from '../helpers/node.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { asOperator, gatewayToken } from './helpers.ts';

const CAROL = 'carol@arts.campus.test';
const BOT_ARTS = 'leave-approval@arts.campus.test';
const BOT_ENG = 'leave-approval@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
let arts: TestNode;
let app: LeaveApp;
let appUrl: string;
let callbackSecret: string;
type Device = Awaited<ReturnType<typeof device>>;
let carolPhone: Device;
let carolLaptop: Device;
let davePhone: Device;
let daveLaptop: Device;

async function device(node: TestNode, username: string, login?: Login) {
  const sdk = await connectAs(gateway, node, username, login);
  const d = Object.assign(sdk, { messages: [] as Message[] });
  d.on('message', (m) => d.messages.push(m));
  return d;
}

/** The error the page shows under a field of the leave form. */
const errorOf = (page: Page, field: string) =>
  new RegExp(`id="${field}-error">([^<]*)<`)
    .exec(page.html)?.[1]
    ?.replace(/&#(\d+);/g, (_m, c: string) => String.fromCharCode(Number(c)));

/** "2026-12-10" as the app's cards and pages write it: "Thu 10 Dec 2026". */
function readable(day: string): string {
  const [year, month, date] = day.split('-').map(Number) as [number, number, number];
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][
    new Date(Date.UTC(year, month - 1, date)).getUTCDay()
  ];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return `${weekday} ${date} ${months[month - 1]} ${year}`;
}
const text = (page: Page) =>
  page.html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#(\d+);/g, (_m, c: string) => String.fromCharCode(Number(c)))
    .replace(/\s+/g, ' ');

beforeAll(async () => {
  gateway = await startTestGateway('leave', { LOGIN_IP_LIMIT: '1000' });
  [eng, arts] = await Promise.all([
    startTestNode(gateway, 'eng.campus.test'),
    startTestNode(gateway, 'arts.campus.test'),
  ]);
  await pinDomainKeys(asOperator(gateway), 'eng.campus.test');
  await pinDomainKeys(asOperator(gateway), 'arts.campus.test');

  // As the demo does: registered by the operator, the secrets in a file of the app's own. It is told no
  // node URLs: it learns them from the gateway (GET /api/v1/nodes).
  ({ app, url: appUrl, callbackSecret } = await startLeaveApprovalFor(gateway, null));
  carolPhone = await device(arts, 'carol');
  carolLaptop = await device(arts, 'carol', carolPhone.login);
  davePhone = await device(eng, 'dave');
  daveLaptop = await device(eng, 'dave', davePhone.login);
});
afterAll(async () => {
  for (const d of [carolPhone, carolLaptop, davePhone, daveLaptop]) d?.close();
  await app?.close();
  await Promise.all([eng?.stop(), arts?.stop()]);
  await gateway?.stop();
});

describe('the leave-approval example app', () => {
  it("takes a student's request, asks the approver in chat, and records the decision made there", async () => {
    // Carol has opened the app before: it knows her name, and the student reads it rather than her address.
    const approver = await signInThrough(new BrowserAgent(), `${appUrl}/login`, 'carol', DEMO_PASSWORD);
    expect(text(approver)).toContain('Signed in as Carol Silva');
    const student = new BrowserAgent();
    const home = await signInThrough(student, `${appUrl}/login`, 'dave', DEMO_PASSWORD);
    expect(home.url).toBe(`${appUrl}/`);
    expect(text(home)).toContain('Signed in as Dave Okafor (dave@eng.campus.test)');

    const sent = await submitFilled(student, home, filledFormWithAction(home, '/requests'), {
      from: dayFromToday(7),
      to: dayFromToday(9),
      reason: 'Family <wedding> & travel',
    });
    expect(text(sent)).toContain('Sent to Carol Silva;');
    expect(sent.html).toContain('Family &#60;wedding&#62; &#38; travel');
    const [request] = app.store.all();
    expect(request).toMatchObject({
      status: 'pending',
      approver: CAROL,
      approverName: 'Carol Silva',
      student: { address: 'dave@eng.campus.test', name: 'Dave Okafor' },
      notifyError: null,
    });

    // The approver's devices get the card with the buttons, from the app's bot on her home node.
    await expect
      .poll(() => carolPhone.messages.find((m) => m.kind === 'card'))
      .toMatchObject({
        id: request!.approverCard,
        sender: BOT_ARTS,
        senderName: 'Leave Approval',
        card: {
          title: 'Leave request from Dave Okafor',
          fields: expect.arrayContaining([
            { label: 'From', value: readable(dayFromToday(7)) },
            { label: 'To', value: readable(dayFromToday(9)) },
            { label: 'Days', value: '3' },
            { label: 'Reason', value: 'Family <wedding> & travel' },
          ]),
          actions: [expect.objectContaining({ id: 'approve' }), expect.objectContaining({ id: 'reject' })],
        },
      });
    // The student's devices get a status card.
    await expect
      .poll(() => daveLaptop.messages.find((m) => m.kind === 'card'))
      .toMatchObject({ id: request!.studentCard, sender: BOT_ENG, card: { text: 'Waiting for Carol Silva' } });

    const result = await carolPhone.cardAction(request!.approverCard!, 'approve');
    expect(result).toMatchObject({ updated: true, toast: 'Approved.' });
    expect(app.store.get(request!.id)).toMatchObject({ status: 'approved', decidedBy: 'Carol Silva' });

    // Every device of both people sees the updated card.
    for (const d of [carolPhone, carolLaptop]) {
      await expect
        .poll(() => d.messages.find((m) => m.kind === 'card.update' && m.refId === request!.approverCard)?.card)
        .toMatchObject({ text: 'Approved by Carol Silva', actions: [] });
    }
    for (const d of [davePhone, daveLaptop]) {
      await expect
        .poll(() => d.messages.find((m) => m.kind === 'card.update' && m.refId === request!.studentCard)?.card)
        .toMatchObject({ text: 'Approved by Carol Silva' });
    }
    const page = await student.navigate(`${appUrl}/`);
    expect(text(page)).toContain('approved by Carol Silva');
    expect(text(page)).toContain(readable(dayFromToday(9)));
  });

  it('refuses forged and replayed callbacks, and a second decision changes nothing', async () => {
    const [request] = app.store.all();
    const event = {
      messageId: request!.approverCard,
      conversationId: 'x',
      actionId: 'reject',
      user: { address: CAROL, name: 'Carol Silva' },
      app: 'leave-approval',
    };
    const post = (body: string, timestamp: string, secret: string) =>
      fetch(`${appUrl}/atrium/callback`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [CALLBACK_HEADERS.timestamp]: timestamp,
          [CALLBACK_HEADERS.signature]: callbackSignature(secret, timestamp, body),
        },
        body,
      });
    const now = String(Math.floor(Date.now() / 1000));
    const body = JSON.stringify({ ...event, timestamp: Number(now), nonce: 'forged-nonce-0123456789' });
    expect((await post(body, now, 'not-the-app-secret')).status).toBe(401);
    const genuine = await post(body, now, callbackSecret);
    expect(genuine.status).toBe(200);
    expect(await genuine.json()).toMatchObject({ toast: 'Already approved.' });
    expect((await post(body, now, callbackSecret)).status).toBe(401);
    expect(app.store.get(request!.id)!.status).toBe('approved');
  });

  it('lets only the approver decide, and asks people to sign in', async () => {
    const student = new BrowserAgent();
    const home = await signInThrough(student, `${appUrl}/login`, 'dave', DEMO_PASSWORD);
    await submitFilled(student, home, filledFormWithAction(home, '/requests'), {
      from: dayFromToday(30),
      to: dayFromToday(30),
      reason: 'Dentist',
    });
    const request = app.store.all().at(-1)!;
    await expect.poll(() => carolPhone.messages.some((m) => m.id === request.approverCard)).toBe(true);
    // The card lives in Carol's conversation on her node; Dave's node does not even hold it, and the app never hears of his click.
    await expect(davePhone.cardAction(request.approverCard!, 'approve')).rejects.toMatchObject({ code: 'not_found' });
    // Carol taps on her phone and her laptop at once: one decision wins, the other is told.
    const [onPhone, onLaptop] = await Promise.all([
      carolPhone.cardAction(request.approverCard!, 'reject'),
      carolLaptop.cardAction(request.approverCard!, 'approve'),
    ]);
    const toasts = [onPhone.toast, onLaptop.toast].sort();
    const winner = app.store.get(request.id)!.status;
    expect(['approved', 'rejected']).toContain(winner);
    expect(toasts).toEqual([winner === 'approved' ? 'Approved.' : 'Rejected.', `Already ${winner}.`].sort());
    expect(app.store.get(request.id)).toMatchObject({ decidedBy: 'Carol Silva' });

    const refused = await submitFilled(student, home, filledFormWithAction(home, '/requests'), {
      from: dayFromToday(40),
      to: dayFromToday(31),
      reason: '',
    });
    expect(refused.status).toBe(400);
    expect(errorOf(refused, 'to')).toBe('The last day is before the first day');
    expect(errorOf(refused, 'reason')).toBe('Say why');
    const forged = await student.request(`${appUrl}/requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'from=2027-03-01&to=2027-03-02&reason=x',
    });
    expect(forged.status).toBe(403);
    expect((await new BrowserAgent().navigate(`${appUrl}/`)).html).toContain('href="/login"');
  });

  it('refuses leave that starts before today, and asks for missing days without naming a format', async () => {
    const student = new BrowserAgent();
    const home = await signInThrough(student, `${appUrl}/login`, 'dave', DEMO_PASSWORD);
    // The date pickers offer no day before today (the app's time zone: this machine's here).
    expect(home.html).toContain(`id="from" name="from" type="date" min="${dayFromToday(0)}"`);
    const requests = app.store.all().length;
    const cards = carolPhone.messages.length;

    const past = await submitFilled(student, home, filledFormWithAction(home, '/requests'), {
      from: '2020-01-10',
      to: '2020-01-12',
      reason: 'Conference',
    });
    expect(past.status).toBe(400);
    expect(errorOf(past, 'from')).toBe('The first day has passed: choose today or a later day');
    expect(past.html).toContain('aria-describedby="from-error"');
    // What was typed stays in the form.
    expect(past.html).toContain('value="2020-01-10"');
    expect(past.html).toContain('>Conference</textarea>');
    const yesterday = await submitFilled(student, home, filledFormWithAction(home, '/requests'), {
      from: dayFromToday(-1),
      to: dayFromToday(1),
      reason: 'Conference',
    });
    expect(errorOf(yesterday, 'from')).toBe('The first day has passed: choose today or a later day');

    const empty = await submitFilled(student, home, filledFormWithAction(home, '/requests'), {
      from: '',
      to: '',
      reason: 'Conference',
    });
    expect(errorOf(empty, 'from')).toBe('Choose the first day');
    expect(errorOf(empty, 'to')).toBe('Choose the last day');
    expect(text(empty)).not.toContain('YYYY');
    // A day that is not in the calendar is no day either.
    const unreal = await submitFilled(student, home, filledFormWithAction(home, '/requests'), {
      from: `${dayFromToday(400).slice(0, 4)}-02-30`,
      to: `${dayFromToday(400).slice(0, 4)}-03-02`,
      reason: 'Conference',
    });
    expect(errorOf(unreal, 'from')).toBe('Choose the first day');

    // Today itself is fine.
    const today = await submitFilled(student, home, filledFormWithAction(home, '/requests'), {
      from: dayFromToday(0),
      to: dayFromToday(0),
      reason: 'Conference',
    });
    expect(text(today)).toContain('Sent to Carol Silva;');
    expect(app.store.all().length).toBe(requests + 1);
    // Nothing refused reached the approver: only today's request did.
    await expect.poll(() => carolPhone.messages.length).toBe(cards + 1);
  });

  it('opens without a second login for someone signed in elsewhere, and without a consent page', async () => {
    const { agent } = await gatewayToken(gateway, 'alice');
    const opened = await agent.navigate(`${appUrl}/login`);
    expect(opened.url).toBe(`${appUrl}/`);
    expect(text(opened)).toContain('Signed in as Alice Chen');
    // Opened in a tab of its own from the workbench, it links back to the campus chat (the gateway's portal);
    // its buttons, fields and lone links are a thumb's size (44 px).
    const back = /<a class="back" href="([^"]+)">Back to campus chat<\/a>/.exec(opened.html)?.[1];
    expect(back).toBe(`${gateway.issuer}/`);
    const portal = await agent.navigate(back!);
    expect(portal.status).toBe(200);
    expect(portal.url).toBe(`${gateway.issuer}/`);
    expect(portal.html).toContain('class="portal"');
    for (const tapped of ['input,textarea{', 'button{', '.back,main p>a:only-child{'])
      expect(opened.html).toMatch(new RegExp(`${tapped.replace(/[.{>]/g, '\\$&')}[^}]*min-height:44px`));
    // Signing out of the app can end the gateway session too (RP-initiated logout).
    const out = await agent.submit(opened, formWithAction(opened, '/logout'));
    expect(out.url).toContain('/session/end');
  });
});
