import { fetchMe, HttpError } from './api.ts';
import { PortalApp } from './app.ts';
import { Chat } from './chat.ts';
import { h } from './dom.ts';

/** Boots the page: who is signed in and on which nodes, then one chat client per node and the views. */
async function boot(root: HTMLElement): Promise<void> {
  try {
    const me = await fetchMe();
    const chat = new Chat(me);
    new PortalApp(root, chat).start();
  } catch (error) {
    if (error instanceof HttpError && error.status === 401) return;
    root.replaceChildren(
      h(
        'div',
        { class: 'placeholder', role: 'alert' },
        h('p', {}, `The portal could not start: ${(error as Error).message}`),
        h('button', { type: 'button', onclick: () => window.location.reload() }, 'Try again'),
      ),
    );
  }
}

const root = document.getElementById('app');
if (root) void boot(root);
