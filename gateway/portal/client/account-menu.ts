import { h, ICONS, icon, iconButton } from './dom.ts';
import { FILES_ROUTE } from './files-view.ts';

let menus = 0;

/**
 * The person's menu in the top bar: who is signed in (the top bar of a phone has no room for the name),
 * their files and their sign-in security. A disclosure: the button opens and closes it; Escape, a click
 * elsewhere, focus leaving it or a choice made closes it.
 */
export function accountMenu(name: string, addresses: string): HTMLElement {
  const id = `account-menu-${++menus}`;
  const item = (href: string, path: string, label: string, { class: extra = '', ...attrs }: Record<string, string>) =>
    h('li', {}, h('a', { ...attrs, href, class: `menu-item ${extra}`.trim() }, icon(path), label));
  const list = h(
    'ul',
    { class: 'account-menu', id, hidden: true },
    h('li', { class: 'menu-who', title: addresses }, name),
    item(FILES_ROUTE, ICONS.folder, 'Your files', { 'data-nav': FILES_ROUTE }),
    item('/account/security', ICONS.shield, 'Sign-in security', {
      class: 'account-security',
      title: 'Sign-in security: passkeys, authenticator app, recovery codes',
    }),
  );
  const button = iconButton('Account', ICONS.person, () => (list.hidden ? open() : close()), {
    class: 'icon-button account-button',
    'aria-expanded': 'false',
    'aria-controls': id,
    title: 'Your account: files, sign-in security',
  });
  const wrap = h('div', { class: 'account-menu-wrap' }, button, list);

  function open(): void {
    list.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', outside, true);
  }
  function close(): void {
    list.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', outside, true);
  }
  function outside(event: Event): void {
    if (!wrap.contains(event.target as Node)) close();
  }
  wrap.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || list.hidden) return;
    // The page's own Escape (back to the list) is not for this.
    event.preventDefault();
    event.stopPropagation();
    close();
    button.focus();
  });
  wrap.addEventListener('focusout', (event) => {
    if (!wrap.contains(event.relatedTarget as Node | null)) close();
  });
  list.addEventListener('click', (event) => {
    if ((event.target as Element).closest('a')) close();
  });
  return wrap;
}
