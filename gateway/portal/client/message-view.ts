import type { Message, UploadedAttachment } from '../../../sdk/client.ts';
import {
  byWebhook,
  DOMAIN_REMOVED,
  domainPart,
  goesLater,
  listsSomeMembers,
  type Chat,
  type Entry,
  type Pending,
} from './chat.ts';
import { h, type Child } from './dom.ts';
import { clockOf, fullTimeOf, hueClass, initials, richText, sizeOf, systemText } from './format.ts';
import type { HttpError } from './api.ts';
import { attachmentUrl, downloadAttachment, failedWhy } from './nodes.ts';
import { renderCard } from './card-view.ts';
import { openImageViewer } from './image-viewer.ts';
import { RESTORE_TEXT } from './composer.ts';

export type Receipt = { state: 'sent' | 'delivered' | 'read'; label: string; detail: string };

/**
 * Where one of the person's own messages has got to, from the other members' receipts: read when every
 * other member has read it, delivered when every device of theirs has it, else sent. Groups say how many.
 */
export function receiptOf(chat: Chat, entry: Entry, message: Message): Receipt {
  const others = entry.conv.members.filter((m) => m.address !== entry.me);
  // A big group's view lists only some of its members (its node holds the others): count them all.
  const total = Math.max(others.length, (entry.conv.memberCount ?? entry.conv.members.length) - 1);
  if (total === 0) return { state: 'sent', label: 'Sent', detail: 'No one else is in this conversation' };
  const read = others.filter((m) => m.readSeq >= message.seq);
  // There the page holds only some readers, and its node counts them all (Chat.countReads): those held
  // are among the node's count, or read since it counted, so the larger of the two undercounts least.
  const counted = listsSomeMembers(entry.conv) ? (entry.readCounts.get(message.seq) ?? 0) : 0;
  const readers = Math.min(total, Math.max(read.length, counted));
  const delivered = others.filter((m) => m.deliveredSeq >= message.seq || m.readSeq >= message.seq);
  const names = (list: typeof others) => list.map((m) => chat.nameIn(entry, m.address)).join(', ');
  if (readers === total) return { state: 'read', label: 'Read', detail: readBy(names(read), readers - read.length) };
  if (entry.conv.kind === 'group' && readers > 0)
    return {
      state: 'delivered',
      label: `Read by ${readers} of ${total}`,
      detail: readBy(names(read), readers - read.length),
    };
  if (delivered.length === total)
    return { state: 'delivered', label: 'Delivered', detail: `Delivered to ${names(delivered)}` };
  // An app's bot holds no device to say it has a message: its node has it, which is all there is to wait for.
  const peer = chat.peerOf(entry);
  if (peer && chat.isApp(entry, peer))
    return { state: 'sent', label: 'Sent', detail: `Sent to ${chat.appName(entry, peer)}, an app` };
  return { state: 'sent', label: 'Sent', detail: 'Not yet delivered' };
}

/** Who read a message: the readers the page knows by name, and how many more its node counted. */
function readBy(names: string, more: number): string {
  if (more <= 0) return `Read by ${names}`;
  if (!names) return `Read by ${more} ${more === 1 ? 'member' : 'members'}`;
  return `Read by ${names} and ${more} more`;
}

export type MessageActions = {
  edit(message: Message, li: HTMLElement): void;
  recall(message: Message): void;
  cardAction(message: Message, actionId: string, button: HTMLButtonElement): void;
  /** Says something short to the person (a download that failed). */
  toast(text: string): void;
};

/**
 * What decides a message's rendering: it is redrawn only when this changes. Receipts are left out:
 * they change often (each delivery and read) and are patched in place by `updateReceipt`, so a
 * button under the pointer is never swapped for a new one between press and release.
 */
export function signatureOf(chat: Chat, entry: Entry, message: Message): string {
  return [
    message.text ?? '',
    message.editedAt,
    message.recalledAt,
    JSON.stringify(message.card ?? null),
    // A file its sender deleted is drawn as removed.
    (message.attachments ?? [])
      .filter((a) => a.removed)
      .map((a) => a.id)
      .join(','),
    chat.senderOf(entry, message),
    entry.refused.get(message.id) ?? '',
    // A group change names people whose names may come from the directory after it was drawn.
    message.kind === 'system' ? systemText(message as never, (a) => chat.nameIn(entry, a)) : '',
  ].join('\u0000');
}

function statusOf(receipt: Receipt): HTMLElement {
  return h(
    'span',
    { class: `status status-${receipt.state}`, title: receipt.detail, 'data-status': receipt.state },
    receipt.label,
  );
}

/**
 * What the short line under a message leaves to a tooltip, in words: when it was sent (the line has the
 * clock time only), when it was edited, and for one's own, who has read it. A tooltip reaches neither a
 * finger nor a keyboard: this is read out with the message, and shows while the message has focus.
 */
function infoOf(message: Message, receipt: Receipt | null): string {
  const said = [`Sent ${fullTimeOf(message.createdAt)}`];
  if (message.editedAt && !message.recalledAt)
    said.push(`${message.kind === 'card' ? 'Updated' : 'Edited'} ${fullTimeOf(message.editedAt)}`);
  if (receipt) said.push(receipt.detail);
  return `${said.join('. ')}.`;
}

/** Brings the receipt of one's own drawn message up to date without redrawing the rest of it. */
export function updateReceipt(el: HTMLElement, chat: Chat, entry: Entry, message: Message): void {
  if (message.sender !== entry.me || message.kind === 'system') return;
  const shown = el.querySelector<HTMLElement>('.meta .status[data-status]');
  const receipt = receiptOf(chat, entry, message);
  if (!shown || (shown.title === receipt.detail && shown.textContent === receipt.label)) return;
  shown.replaceWith(statusOf(receipt));
  const info = el.querySelector<HTMLElement>('.message-info');
  if (info) info.textContent = infoOf(message, receipt);
}

/** A sender's initials; a webhook's in a square of its own colour, never like the person it may be named after. */
function avatar(name: string, message: Message): HTMLElement {
  const look = byWebhook(message) ? 'webhook' : hueClass(message.sender);
  return h('span', { class: `avatar small ${look}`, 'aria-hidden': 'true' }, initials(name));
}

/**
 * Who wrote a message, above its text: the name isolated (<bdi>), so that one written right to left does
 * not turn the address after it around; a webhook marked as one, since whoever made it chose its name.
 */
function senderLine(name: string, message: Message): HTMLElement {
  const mark = byWebhook(message)
    ? [
        ' ',
        h(
          'span',
          { class: 'sender-kind', title: 'Posted through a webhook; its name is chosen by whoever made it' },
          'webhook',
        ),
      ]
    : null;
  return h(
    'p',
    { class: 'sender' },
    h('bdi', { id: `m-${message.id}-from` }, name),
    mark,
    h('span', { class: 'address' }, ` ${message.sender}`),
  );
}

/** A file its sender deleted: said instead of offered (a download would answer 410 `attachment_removed`). */
function removedFile(name: string, mine: boolean): HTMLLIElement {
  return h(
    'li',
    { class: 'attachment removed' },
    h('span', { class: 'removed-note' }, mine ? 'You removed this file' : 'File removed by the sender'),
    name ? h('span', { class: 'muted' }, ` (${name})`) : null,
  );
}

/** Whether the sender deleted this file of the message, as the page knows it now. */
function removedNow(entry: Entry, message: Message, attachmentId: string): boolean {
  const now = entry.byId.get(message.id) ?? message;
  return Boolean(now.attachments?.find((x) => x.id === attachmentId)?.removed);
}

/**
 * A picture of a message in the viewer. A deletion by its sender while it is open shows there (the
 * picture and Download go); closed, focus goes back to the message, drawn anew by then.
 */
function viewImage(
  chat: Chat,
  entry: Entry,
  message: Message,
  a: UploadedAttachment,
  at: { url: string; parent: Element },
): void {
  if (removedNow(entry, message, a.id)) return;
  const node = chat.domains.get(entry.domain)!;
  const from = domainPart(message.sender);
  let stop: () => void = () => undefined;
  const viewer = openImageViewer(at.parent, a, at.url, {
    download: () => downloadAttachment(node, a, from),
    failedWhy: (error) => failedWhy(error, node.title, chat.domainTitle(from)),
    returnFocus: () => document.getElementById(`m-${message.id}`)?.querySelector<HTMLElement>('.bubble') ?? null,
    onClose: () => stop(),
  });
  stop = chat.on('entry', (changed) => {
    if (changed !== entry || !removedNow(entry, message, a.id)) return;
    viewer.removed(message.sender === entry.me ? 'You removed this file.' : 'The sender removed this file.');
    stop();
  });
}

function attachmentsOf(chat: Chat, entry: Entry, message: Message, toast: (text: string) => void): Child {
  const list = message.attachments ?? [];
  if (list.length === 0) return null;
  // Files stay on the node of the person who shared them. The viewer asks as the member of this
  // conversation they are (their node for it), which fetches a file from another domain's node there.
  const from = domainPart(message.sender);
  const node = chat.domains.get(entry.domain);
  chat.wantDomainTitle(from);
  return h(
    'ul',
    { class: 'attachments', 'aria-label': 'Attachments' },
    list.map((a) => {
      if (a.removed) return removedFile(a.name, message.sender === entry.me);
      if (!node)
        return h('li', { class: 'attachment unavailable' }, `${a.name} (${sizeOf(a.size)}) could not be loaded`);
      if (a.contentType.startsWith('image/')) {
        const img = h('img', { class: 'preview', alt: a.name, loading: 'lazy' });
        attachmentUrl(node, a.id, from).then(
          (url) => (img.src = url),
          (error: HttpError) =>
            img
              .closest('li')
              ?.replaceWith(
                error.code === 'attachment_removed'
                  ? removedFile(a.name, message.sender === entry.me)
                  : h('li', { class: 'attachment unavailable' }, `${a.name} could not be loaded`),
              ),
        );
        // Opened large in the page, from the same blob: URL as the preview (the node serves files only as
        // downloads); the viewer has the Download button, until the sender deletes the file.
        const view = (event: MouseEvent) => {
          const button = event.currentTarget as HTMLElement;
          button.focus();
          attachmentUrl(node, a.id, from).then(
            (url) =>
              viewImage(chat, entry, message, a, { url, parent: button.closest('.conversation') ?? document.body }),
            () => undefined,
          );
        };
        return h(
          'li',
          { class: 'attachment image' },
          h(
            'button',
            { type: 'button', class: 'link', 'aria-label': `View ${a.name}`, 'aria-haspopup': 'dialog', onclick: view },
            img,
          ),
        );
      }
      return h(
        'li',
        { class: 'attachment file' },
        h(
          'button',
          {
            type: 'button',
            class: 'link',
            onclick: () =>
              void downloadAttachment(node, a, from).catch((error: unknown) =>
                toast(`Could not download ${a.name}: ${failedWhy(error, node.title, chat.domainTitle(from))}`),
              ),
          },
          `⬇ ${a.name}`,
        ),
        h('span', { class: 'muted' }, ` ${sizeOf(a.size)}`),
      );
    }),
  );
}

/** A message as a list item; one the page cannot draw is a neutral line in its place, the error logged. */
export function renderMessage(
  chat: Chat,
  entry: Entry,
  message: Message,
  actions: MessageActions,
  recallWindowMs: number,
): HTMLElement {
  try {
    return drawMessage(chat, entry, message, actions, recallWindowMs);
  } catch (error) {
    console.error(`Could not draw the entry ${message.id}:`, error);
    return h(
      'li',
      { class: 'message system', id: `m-${message.id}`, 'data-seq': message.seq },
      h('span', {}, 'This entry cannot be shown'),
    );
  }
}

function drawMessage(
  chat: Chat,
  entry: Entry,
  message: Message,
  actions: MessageActions,
  recallWindowMs: number,
): HTMLElement {
  if (message.kind === 'system') {
    return h(
      'li',
      { class: 'message system', id: `m-${message.id}`, 'data-seq': message.seq },
      h(
        'span',
        {},
        systemText(message as never, (a) => chat.nameIn(entry, a)),
      ),
    );
  }
  const mine = message.sender === entry.me;
  const recalled = Boolean(message.recalledAt);
  const body: Child[] = [];
  const id = `m-${message.id}`;
  if (recalled)
    body.push(
      h(
        'p',
        { class: 'text recalled', id: `${id}-text` },
        mine ? 'You recalled this message' : 'This message was recalled',
      ),
    );
  else {
    // A card's text is its plain-text rendering, for search and for clients that cannot draw cards.
    if (message.text && message.kind !== 'card')
      body.push(h('p', { class: 'text', id: `${id}-text` }, richText(message.text, message.mentions ?? [], entry.me)));
    body.push(attachmentsOf(chat, entry, message, actions.toast));
    if (message.kind === 'card' && message.card)
      body.push(renderCard(message.card, (actionId, button) => actions.cardAction(message, actionId, button)));
  }
  const mentionsMe = (message.mentions ?? []).includes(entry.me);
  const footer: Child[] = [
    // The day is on the separator above (ConversationView); the date and time in full on hover, and in
    // the info line under it (infoOf).
    h(
      'time',
      { id: `${id}-at`, datetime: message.createdAt, title: fullTimeOf(message.createdAt) },
      clockOf(message.createdAt),
    ),
  ];
  if (message.editedAt && !recalled) {
    const word = message.kind === 'card' ? 'updated' : 'edited';
    footer.push(h('span', { class: 'edited', title: `${word} ${fullTimeOf(message.editedAt)}` }, word));
  }
  const receipt = mine ? receiptOf(chat, entry, message) : null;
  if (receipt) footer.push(statusOf(receipt));
  const refused = entry.refused.get(message.id);
  if (refused) footer.push(h('span', { class: 'status status-failed', role: 'note' }, `Not delivered: ${refused}`));

  const tools: Child[] = [];
  if (mine && !recalled && message.kind === 'text') {
    if (message.text)
      tools.push(
        h(
          'button',
          {
            type: 'button',
            class: 'tool',
            onclick: (e: MouseEvent) => actions.edit(message, (e.currentTarget as HTMLElement).closest('li')!),
          },
          'Edit',
        ),
      );
    if (Date.now() - Date.parse(message.createdAt) < recallWindowMs)
      tools.push(h('button', { type: 'button', class: 'tool', onclick: () => actions.recall(message) }, 'Recall'));
  }
  const name = chat.senderOf(entry, message);
  return h(
    'li',
    {
      class: `message${mine ? ' mine' : ''}${mentionsMe ? ' mentions-me' : ''}${message.kind === 'card' ? ' has-card' : ''}`,
      id,
      'data-seq': message.seq,
    },
    mine ? null : avatar(name, message),
    // Focusable, each one, though one Tab stop for the list (ConversationView#rove): a tap or the arrow keys
    // show what its line leaves out (infoOf), and one's own Edit and Recall. Named by who wrote it and when,
    // described by what it says and that line.
    h(
      'div',
      {
        class: 'bubble',
        tabindex: -1,
        role: 'article',
        'aria-labelledby': `${id}-from ${id}-at`,
        'aria-describedby': body.some((b) => b instanceof HTMLElement && b.classList.contains('text'))
          ? `${id}-text ${id}-info`
          : `${id}-info`,
      },
      // Who wrote it, read out for one's own too: a bubble's side and colour say it to the eye alone.
      mine ? h('p', { class: 'visually-hidden', id: `${id}-from` }, 'You') : senderLine(name, message),
      body,
      h('p', { class: 'meta' }, footer),
      h('p', { class: 'message-info', id: `${id}-info` }, infoOf(message, receipt)),
      tools.length ? h('div', { class: 'tools' }, tools) : null,
    ),
  );
}

/** A message the node refused for what it holds (too long, too large): sent again it would be refused again. */
function unsendable(pending: Pending): boolean {
  return pending.errorCode === 'invalid_input' || pending.errorCode === 'too_large';
}

/** Hands the text to the composer of the conversation this bubble is in. */
function giveBack(from: HTMLElement, text: string): void {
  const composer = from.closest('.conversation')?.querySelector('form.composer');
  composer?.dispatchEvent(new CustomEvent(RESTORE_TEXT, { detail: text }));
}

export function renderPending(entry: Entry, pending: Pending, onRetry: () => void, onDiscard: () => void): HTMLElement {
  const failed = pending.state === 'failed';
  return h(
    'li',
    {
      class: `message mine pending${failed ? ' failed' : ''}`,
      id: `p-${pending.clientMsgId}`,
      'data-pending': pending.clientMsgId,
    },
    h(
      'div',
      { class: 'bubble' },
      pending.text ? h('p', { class: 'text' }, richText(pending.text, pending.mentions, entry.me)) : null,
      pending.attachments.length
        ? h(
            'ul',
            { class: 'attachments' },
            pending.attachments.map((a) => h('li', { class: 'attachment file' }, `${a.name} (${sizeOf(a.size)})`)),
          )
        : null,
      h(
        'p',
        { class: 'meta' },
        failed
          ? [
              h(
                'span',
                { class: 'status status-failed', role: 'alert' },
                // One that waits to go again is not sent yet; the page sends it by itself (Chat.send).
                `${goesLater(pending) ? 'Not sent yet' : 'Not sent'}: ${pending.error ?? 'refused'}`,
              ),
              ' ',
              ...(pending.errorCode === DOMAIN_REMOVED
                ? [h('button', { type: 'button', class: 'tool', onclick: onDiscard }, 'Discard')]
                : unsendable(pending)
                  ? [
                      h(
                        'button',
                        {
                          type: 'button',
                          class: 'tool',
                          onclick: (event: MouseEvent) => {
                            giveBack(event.currentTarget as HTMLElement, pending.text);
                            onDiscard();
                          },
                        },
                        'Edit',
                      ),
                    ]
                  : [
                      h('button', { type: 'button', class: 'tool', onclick: onRetry }, 'Retry'),
                      h('button', { type: 'button', class: 'tool', onclick: onDiscard }, 'Discard'),
                    ]),
            ]
          : h('span', { class: 'status status-sending', 'data-status': 'sending' }, 'Sending…'),
      ),
    ),
  );
}
