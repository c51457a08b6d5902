import { userOf } from '../protocol/address.ts';
import type { Identity } from '../node/auth/token-verifier.ts';
import type { NodeContext } from '../node/context.ts';
import { createGroup } from '../node/conversations/create-group.ts';
import type { DomainNode } from '../node/main.ts';
import { sendMessage } from '../node/messages/send-message.ts';
import { markReceipt } from '../node/receipts/mark-receipt.ts';

const ENG = 'eng.campus.test';
const ARTS = 'arts.campus.test';
const alice = `alice@${ENG}`;
const dave = `dave@${ENG}`;
const bob = `bob@${ARTS}`;
const carol = `carol@${ARTS}`;

export const ORCHESTRA = { title: 'Campus Orchestra', owner: carol, members: [bob, alice, dave] };

/** A line of the demo: who says what, to a person (a direct conversation) or into the orchestra group. */
type Line = { id: string; from: string; to: string | 'orchestra'; text: string };

/**
 * The seeded conversations. Client message ids are fixed, so replaying the script (a first start that
 * was interrupted) stores nothing twice: a send with a known id is acknowledged as a duplicate.
 */
const SCRIPT: Line[] = [
  { id: 'demo-ad-1', from: alice, to: dave, text: 'Hi Dave! Are you going to the robotics lab tonight?' },
  { id: 'demo-ad-2', from: dave, to: alice, text: 'Yes, from 7. Shall I bring the soldering kit?' },
  { id: 'demo-ad-3', from: alice, to: dave, text: 'Please do. See you there.' },
  {
    id: 'demo-ab-1',
    from: alice,
    to: bob,
    text: 'Hi Bob, Alice from Engineering here. Would History join our seminar on the printing press?',
  },
  { id: 'demo-ab-2', from: bob, to: alice, text: 'Hi Alice! Gladly. Thursday afternoon works for us.' },
  { id: 'demo-ab-3', from: alice, to: bob, text: 'Great, I will book a room in the Engineering building.' },
  { id: 'demo-ab-4', from: bob, to: alice, text: 'Perfect, see you Thursday.' },
  {
    id: 'demo-or-1',
    from: carol,
    to: 'orchestra',
    text: 'Welcome to the Campus Orchestra! First rehearsal: Monday, 6 pm, in the Music hall.',
  },
  { id: 'demo-or-2', from: bob, to: 'orchestra', text: 'I will bring the spare music stands.' },
  { id: 'demo-or-3', from: alice, to: 'orchestra', text: 'Looking forward to it. Violin here.' },
  { id: 'demo-or-4', from: dave, to: 'orchestra', text: 'Cello here. See you on Monday!' },
];

/** Someone speaking through their home node, as a signed-in device would (the gateway vouched for them). */
function actor(address: string): Identity {
  return {
    kind: 'user',
    sub: '',
    username: userOf(address),
    name: userOf(address),
    address,
    sid: null,
    clientId: 'atrium-demo',
    expiresAt: Number.MAX_SAFE_INTEGER,
  };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`Seeding the demo conversations: ${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Seeds a direct conversation within Engineering, one across Engineering and Arts, and the cross-college
 * group "Campus Orchestra" homed on Arts, through the nodes' own use-cases, so federation carries every
 * message exactly as it carries live traffic. Does nothing once the script's last line is stored.
 */
export async function seedDemoConversations(nodes: {
  eng: DomainNode;
  arts: DomainNode;
}): Promise<{ seeded: boolean }> {
  const last = SCRIPT.at(-1)!;
  if (await nodes.arts.models.Message.findOne({ where: { sender: last.from, clientMsgId: last.id } }))
    return { seeded: false };

  const nodeOf = (address: string) => (address.endsWith(`@${ENG}`) ? nodes.eng : nodes.arts);
  const ctxOf = (address: string): NodeContext => ({ ...nodeOf(address).services, actor: actor(address) });

  let orchestraId: string | undefined;
  const orchestra = async (): Promise<string> => {
    if (orchestraId) return orchestraId;
    const { Conversation } = nodes.arts.models;
    const existing = await Conversation.findOne({
      where: { kind: 'group', title: ORCHESTRA.title, createdBy: ORCHESTRA.owner, homeDomain: ARTS },
    });
    orchestraId =
      existing?.id ??
      (await createGroup(ctxOf(ORCHESTRA.owner), { title: ORCHESTRA.title, members: ORCHESTRA.members })).id;
    // Engineering's members write from their own node, which learns of the group through federation.
    await until(
      `${ENG} receiving the group`,
      async () =>
        (await nodes.eng.models.Member.count({ where: { conversationId: orchestraId!, address: alice } })) > 0,
    );
    return orchestraId;
  };

  for (const line of SCRIPT) {
    const target = line.to === 'orchestra' ? { conversationId: await orchestra() } : { to: line.to };
    const { message } = await sendMessage(ctxOf(line.from), { clientMsgId: line.id, text: line.text, ...target });
    // Whoever writes has read what came before: a newcomer's list shows unread only what others wrote last.
    // A message ordered on the other node is read here once its copy is back (a read never passes the end).
    const { conversationId, seq } = message;
    await until(`${line.id} reaching its sender's node`, async () =>
      Boolean(await nodeOf(line.from).models.Message.findOne({ where: { conversationId, seq }, attributes: ['id'] })),
    );
    await markReceipt(ctxOf(line.from), 'read', { conversationId, seq });
  }
  return { seeded: true };
}
