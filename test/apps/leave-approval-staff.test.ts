import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LeaveApp } from '../../examples/leave-approval/main.ts';
import { pinDomainKeys } from '../../gateway/federation/pin-domain.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import type { Message } from '../../sdk/client.ts';
import {
  BrowserAgent,
  filledFormWithAction,
  htmlText,
  signInThrough,
  submitFilled,
  type Page,
} from '../helpers/browser-agent.ts';
import { addPerson, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { dayFromToday, startLeaveApprovalFor } from '../helpers/leave-approval.ts';
import { connectAs, startTestNode, type TestNode } from '../helpers/node.ts';
import { asOperator } from './helpers.ts';

/**
 * Staff take leave too. Carol approves Engineering's and Arts' leave; the dean (staff in Arts) is the
 * campus's designated approver, who decides whatever nobody nearer can, such as Carol's own leave.
 */
const CAROL = 'carol@arts.campus.test';
const DEAN = 'dean@arts.campus.test';
const ENZO = 'eng-admin@eng.campus.test';

let gateway: TestGateway;
let eng: TestNode;
let arts: TestNode;
let app: LeaveApp;
let appUrl: string;
type Device = Awaited<ReturnType<typeof device>>;
let carolPhone: Device;
let deanPhone: Device;
let enzoPhone: Device;

async function device(node: TestNode, username: string) {
  const sdk = await connectAs(gateway, node, username);
  const d = Object.assign(sdk, { messages: [] as Message[] });
  d.on('message', (m) => d.messages.push(m));
  return d;
}

const cardOf = (d: Device, id: string | null) => d.messages.find((m) => m.kind === 'card' && m.id === id);
const updateOf = (d: Device, id: string | null) =>
  d.messages.find((m) => m.kind === 'card.update' && m.refId === id)?.card;

/** The rows of the table under a heading of the page, each as its cells' text. */
function rowsUnder(page: Page, heading: string): string[][] {
  const section = page.html.split(`<h2>${heading}</h2>`)[1]?.split('<h2>')[0] ?? '';
  return [...section.matchAll(/<tr>([\s\S]*?)<\/tr>/g)]
    .map((row) => [...row[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((cell) => htmlText(cell[1]!)))
    .filter((cells) => cells.length > 0);
}

async function requestLeave(agent: BrowserAgent, home: Page, reason: string, inDays: number): Promise<Page> {
  return submitFilled(agent, home, filledFormWithAction(home, '/requests'), {
    from: dayFromToday(inDays),
    to: dayFromToday(inDays + 1),
    reason,
  });
}

beforeAll(async () => {
  gateway = await startTestGateway('leave-staff', { LOGIN_IP_LIMIT: '1000' });
  await addPerson(gateway, 'dean', { units: ['campus/arts'], roles: ['staff'] });
  [eng, arts] = await Promise.all([
    startTestNode(gateway, 'eng.campus.test'),
    startTestNode(gateway, 'arts.campus.test'),
  ]);
  await pinDomainKeys(asOperator(gateway), 'eng.campus.test');
  await pinDomainKeys(asOperator(gateway), 'arts.campus.test');
  ({ app, url: appUrl } = await startLeaveApprovalFor(gateway, null, [
    { unit: 'campus/eng', approver: CAROL },
    { unit: 'campus/arts', approver: CAROL },
    { unit: 'campus', approver: DEAN },
  ]));
  [carolPhone, deanPhone, enzoPhone] = await Promise.all([
    device(arts, 'carol'),
    device(arts, 'dean'),
    device(eng, 'eng-admin'),
  ]);
}, 60_000);
afterAll(async () => {
  for (const d of [carolPhone, deanPhone, enzoPhone]) d?.close();
  await app?.close();
  await Promise.all([eng?.stop(), arts?.stop()]);
  await gateway?.stop();
});

describe('leave for staff in the leave-approval example', () => {
  it("takes a staff member's request, and the approver of their unit approves it from the card in chat", async () => {
    const carol = new BrowserAgent();
    await signInThrough(carol, `${appUrl}/login`, 'carol', DEMO_PASSWORD);
    // Enzo is staff of Engineering and approves nobody's leave: the app is there for his own.
    const enzo = new BrowserAgent();
    const home = await signInThrough(enzo, `${appUrl}/login`, 'eng-admin', DEMO_PASSWORD);
    expect(htmlText(home.html)).toContain('Signed in as Enzo Engineer (eng-admin@eng.campus.test)');
    expect(htmlText(home.html)).toContain('Request leave');
    expect(home.html).not.toContain('Requests for me to decide');

    const sent = await requestLeave(enzo, home, 'Conference in Delft', 3);
    expect(sent.status).toBe(200);
    expect(htmlText(sent.html)).toContain('Sent to Carol Silva;');
    const request = app.store.all().find((r) => r.student.address === ENZO)!;
    expect(request).toMatchObject({ approver: CAROL, status: 'pending', notifyError: null });
    expect(rowsUnder(sent, 'My requests')).toEqual([
      ['Carol Silva', expect.any(String), expect.any(String), 'Conference in Delft', 'pending'],
    ]);

    await expect
      .poll(() => cardOf(carolPhone, request.approverCard))
      .toMatchObject({
        card: {
          title: 'Leave request from Enzo Engineer',
          actions: [expect.objectContaining({ id: 'approve' }), expect.objectContaining({ id: 'reject' })],
        },
      });
    await expect
      .poll(() => cardOf(enzoPhone, request.studentCard))
      .toMatchObject({ card: { title: 'Your leave request', text: 'Waiting for Carol Silva', actions: [] } });
    // Carol's page lists it among the requests she decides, with who asked.
    const carolHome = await carol.navigate(`${appUrl}/`);
    expect(rowsUnder(carolHome, 'Requests for me to decide')).toEqual([
      ['Enzo Engineer', expect.any(String), expect.any(String), 'Conference in Delft', 'pending'],
    ]);

    expect(await carolPhone.cardAction(request.approverCard!, 'approve')).toMatchObject({ toast: 'Approved.' });
    await expect
      .poll(() => updateOf(enzoPhone, request.studentCard))
      .toMatchObject({ text: 'Approved by Carol Silva' });
    expect(rowsUnder(await enzo.navigate(`${appUrl}/`), 'My requests')[0]![4]).toBe('approved by Carol Silva');
  });

  it("sends an approver's own request to the next approver above her, never to herself", async () => {
    await signInThrough(new BrowserAgent(), `${appUrl}/login`, 'dean', DEMO_PASSWORD);
    const carol = new BrowserAgent();
    const home = await signInThrough(carol, `${appUrl}/login`, 'carol', DEMO_PASSWORD);
    // She approves both her colleges' leave, so hers goes to the campus's designated approver.
    const sent = await requestLeave(carol, home, 'Orchestra tour', 10);
    expect(htmlText(sent.html)).toContain('Sent to Test dean;');
    const request = app.store.all().find((r) => r.student.address === CAROL)!;
    expect(request.approver).toBe(DEAN);

    await expect
      .poll(() => cardOf(deanPhone, request.approverCard))
      .toMatchObject({
        card: {
          title: 'Leave request from Carol Silva',
          actions: [expect.objectContaining({ id: 'approve' }), expect.objectContaining({ id: 'reject' })],
        },
      });
    // Carol's own chat holds only the status of her request, with no button to decide it.
    await expect
      .poll(() => cardOf(carolPhone, request.studentCard))
      .toMatchObject({ card: { text: 'Waiting for Test dean', actions: [] } });
    expect(
      carolPhone.messages.some((m) => m.kind === 'card' && m.card?.title === 'Leave request from Carol Silva'),
    ).toBe(false);
    const page = await carol.navigate(`${appUrl}/`);
    expect(rowsUnder(page, 'My requests').map((row) => row[0])).toEqual(['Test dean']);
    expect(rowsUnder(page, 'Requests for me to decide').map((row) => row[0])).toEqual(['Enzo Engineer']);

    expect(await deanPhone.cardAction(request.approverCard!, 'reject')).toMatchObject({ toast: 'Rejected.' });
    await expect.poll(() => updateOf(carolPhone, request.studentCard)).toMatchObject({ text: 'Rejected by Test dean' });
  });

  it('tells someone without a chat account why their request cannot be sent, sending nothing', async () => {
    // The campus administrator belongs to no college, so to no chat domain, where the answer would reach her.
    const admin = new BrowserAgent();
    const home = await signInThrough(admin, `${appUrl}/login`, 'admin', DEMO_PASSWORD);
    expect(htmlText(home.html)).toContain('Signed in as Ada Admin (no chat account)');
    const requests = app.store.all().length;
    const refused = await requestLeave(admin, home, 'Board meeting abroad', 5);
    expect(refused.status).toBe(409);
    expect(htmlText(refused.html)).toContain(
      'You have no chat account, where the answer would reach you; ask your college office.',
    );
    expect(refused.html).toContain('>Board meeting abroad</textarea>');
    expect(app.store.all().length).toBe(requests);
  });

  it('keeps an approver from deciding her own request, even one recorded as hers to decide', async () => {
    const carol = new BrowserAgent();
    await signInThrough(carol, `${appUrl}/login`, 'carol', DEMO_PASSWORD);
    const sub = (await gateway.models.User.findOne({ where: { username: 'carol' } }))!.id;
    // As an app that let approvers be asked their own leave recorded it: Carol, asking Carol.
    const own = await app.store.create({
      student: { sub, name: 'Carol Silva', address: CAROL, units: ['campus/arts/music', 'campus/eng/ee'] },
      from: dayFromToday(20),
      to: dayFromToday(20),
      reason: 'Recital',
      approver: CAROL,
      approverName: 'Carol Silva',
    });
    await app.store.update(own.id, { notifyError: 'chat was away' });
    // Her "Tell chat again" sends the cards that were never sent, the one with the buttons to herself.
    const home = await carol.navigate(`${appUrl}/`);
    await submitFilled(carol, home, filledFormWithAction(home, `/requests/${own.id}/notify`));
    const card = app.store.get(own.id)!.approverCard;
    await expect
      .poll(() => cardOf(carolPhone, card))
      .toMatchObject({ card: { title: 'Leave request from Carol Silva' } });

    expect(await carolPhone.cardAction(card!, 'approve')).toMatchObject({
      toast: 'You cannot decide your own leave request; another approver does.',
    });
    expect(app.store.get(own.id)).toMatchObject({ status: 'pending', decidedBy: null });
  });
});
