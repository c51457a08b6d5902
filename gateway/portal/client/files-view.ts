import type { OwnFile, OwnFilesPage } from '../../../sdk/client.ts';
import { HttpError, type PortalDomain } from './api.ts';
import { keyOf, type Chat } from './chat.ts';
import type { ViewHost } from './conversation-view.ts';
import { confirmDialog } from './dialog.ts';
import { h, ICONS, iconButton } from './dom.ts';
import { fullTimeOf, sizeOf, whenOf } from './format.ts';
import { downloadAttachment, failedWhy, outOfReach } from './nodes.ts';

/** The route of the view, which the storage-quota notice links to. */
export const FILES_ROUTE = '#/files';

/** Where a file went: the conversation as the person knows it, else as its node names it. */
function sharedIn(chat: Chat, domain: string, file: OwnFile): string {
  const conversation = file.conversation;
  if (!conversation) return 'Not sent yet';
  const entry = chat.entries.get(keyOf(domain, conversation.id));
  if (entry) return `In ${chat.title(entry)}`;
  if (conversation.kind === 'group' && conversation.title) return `In ${conversation.title}`;
  return 'In a conversation you are no longer in';
}

/** "1.5 MB of 2 GB used", and a meter of it; without a cap, what is used alone. */
function usageOf(page: OwnFilesPage): HTMLElement {
  if (page.quota === null) return h('p', { class: 'usage muted' }, `${sizeOf(page.used)} used`);
  return h(
    'div',
    { class: 'usage' },
    h('p', { class: 'muted' }, `${sizeOf(page.used)} of ${sizeOf(page.quota)} used`),
    h('meter', {
      min: 0,
      max: page.quota,
      value: Math.min(page.used, page.quota),
      high: page.quota * 0.9,
      'aria-label': 'Storage used',
    }),
  );
}

/**
 * One node's files of the person's: what they take up of what they may keep there, newest first, a page
 * at a time; each can be saved, or deleted after a confirmation. Names are the person's own, drawn as text.
 */
function nodeFiles(chat: Chat, host: ViewHost, node: PortalDomain, headed: boolean): HTMLElement {
  const client = chat.clients.get(node.name);
  const status = h('p', { class: 'muted', role: 'status' }, 'Loading your files…');
  const usage = h('div', { class: 'usage-holder' });
  const list = h('ul', { class: 'own-files', 'aria-label': `Your files on ${node.title}` });
  const more = h('button', { type: 'button', class: 'secondary show-more', hidden: true }, 'Show more');
  let next: string | null = null;
  let loading = false;
  /** The last page asked for did not come, the node out of reach: asked again once chat is back there. */
  let unreached = false;
  /** Why something failed, as the person can act on it: the college out of reach, else what its node said. */
  const why = (error: unknown) =>
    error instanceof HttpError && error.code === 'attachment_removed' ? 'it was deleted' : failedWhy(error, node.title);

  const row = (file: OwnFile): HTMLLIElement => {
    const item = h(
      'li',
      { class: 'own-file', 'data-file': file.id },
      h(
        'div',
        { class: 'own-file-text' },
        h(
          'button',
          {
            type: 'button',
            class: 'link own-file-name',
            onclick: () =>
              void downloadAttachment(node, file).catch((error: unknown) =>
                host.toast(`Could not download ${file.name}: ${why(error)}`),
              ),
          },
          file.name,
        ),
        h(
          'span',
          { class: 'muted' },
          `${sizeOf(file.size)} · `,
          h('time', { datetime: file.createdAt, title: fullTimeOf(file.createdAt) }, whenOf(file.createdAt)),
          ` · ${sharedIn(chat, node.name, file)}`,
        ),
      ),
      // Named for its file: a screen reader's list of buttons tells one Delete from another.
      h(
        'button',
        {
          type: 'button',
          class: 'secondary delete-file',
          'aria-label': `Delete “${file.name}”`,
          onclick: () => void remove(file, item),
        },
        'Delete',
      ),
    );
    return item;
  };

  async function remove(file: OwnFile, item: HTMLElement): Promise<void> {
    const confirmed = await confirmDialog(document.body, {
      title: `Delete “${file.name}”?`,
      body: file.conversation
        ? 'It is deleted for everyone: the message that shared it stays, and shows the file as removed. This cannot be undone.'
        : 'It was not sent in a message yet. This cannot be undone.',
      confirm: 'Delete',
    });
    if (!confirmed || !client) return;
    try {
      await client.deleteFile(file.id, node.url);
    } catch (error) {
      host.toast(`Could not delete ${file.name}: ${why(error)}`);
      return;
    }
    item.remove();
    host.toast(`Deleted ${file.name}.`);
    // What is used now, as the node counts it; the pages shown stay.
    void client
      .listFiles({ limit: 1 }, node.url)
      .then((page) => usage.replaceChildren(usageOf(page)))
      .catch(() => undefined);
    if (!list.querySelector('.own-file') && !next) status.textContent = 'You have no files here.';
  }

  async function load(): Promise<void> {
    if (!client) {
      status.textContent = 'Your files here cannot be reached now.';
      return;
    }
    if (loading) return;
    loading = true;
    more.disabled = true;
    unreached = false;
    try {
      const page = await client.listFiles(next ? { before: next } : {}, node.url);
      usage.replaceChildren(usageOf(page));
      list.append(...page.files.map(row));
      next = page.next;
      status.textContent = list.childElementCount === 0 ? 'You have no files here.' : '';
    } catch (error) {
      unreached = outOfReach(error);
      status.textContent = unreached
        ? `${node.title} cannot be reached right now; your files there show when it is back.`
        : `Your files could not be loaded: ${(error as Error).message}`;
    } finally {
      loading = false;
      more.disabled = false;
      more.hidden = next === null || unreached;
    }
  }

  more.addEventListener('click', () => void load());
  void load();
  const section = h(
    'section',
    { class: 'node-files', 'aria-label': headed ? undefined : `Your files on ${node.title}` },
    headed ? h('h3', { class: 'node-files-name' }, node.title) : null,
    usage,
    status,
    list,
    more,
  );
  // Chat there reconnecting is the sign the node answers again: what did not come is asked for again.
  const off = chat.on('connection', () => {
    if (!section.isConnected) off();
    else if (unreached && client?.state === 'online') {
      status.textContent = 'Loading your files…';
      void load();
    }
  });
  return section;
}

/**
 * The person's own files, on each node they chat on (files stay on the node they were uploaded to, each
 * with its own room): to see what takes up their storage, and to delete what they no longer need.
 */
export function filesView(chat: Chat, host: ViewHost): HTMLElement {
  const nodes = chat.me.domains;
  return h(
    'section',
    { class: 'panel files-panel', 'aria-labelledby': 'files-heading' },
    h(
      'header',
      { class: 'panel-head' },
      iconButton('Back to conversations', ICONS.back, () => host.back(), { class: 'icon-button back' }),
      h('h2', { id: 'files-heading', tabindex: -1 }, 'Your files'),
    ),
    h(
      'p',
      { class: 'muted' },
      'Files you uploaded, newest first. Deleting one frees its room; a message that shared it stays, and shows it as removed.',
    ),
    nodes.map((node) => nodeFiles(chat, host, node, nodes.length > 1)),
  );
}
