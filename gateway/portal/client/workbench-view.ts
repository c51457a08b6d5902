import { fetchWorkbench, type WorkbenchApp } from './api.ts';
import { h, ICONS, iconButton } from './dom.ts';
import { initials, hueClass } from './format.ts';
import type { ViewHost } from './conversation-view.ts';

/** The app's icon: an image URL (allowed by the page's policy), a short text such as an emoji, or its initials. */
function appIcon(app: WorkbenchApp): HTMLElement {
  const icon = app.icon ?? '';
  if (/^https?:\/\//.test(icon)) {
    const img = h('img', { class: 'app-icon', src: icon, alt: '' });
    img.addEventListener('error', () =>
      img.replaceWith(
        h('span', { class: `app-icon ${hueClass(app.slug)}`, 'aria-hidden': 'true' }, initials(app.name)),
      ),
    );
    return img;
  }
  if (icon) return h('span', { class: 'app-icon glyph', 'aria-hidden': 'true' }, icon);
  return h('span', { class: `app-icon ${hueClass(app.slug)}`, 'aria-hidden': 'true' }, initials(app.name));
}

/** The apps this person may see; each opens in a new tab and signs them in there without asking again. */
export function workbenchView(host: ViewHost): HTMLElement {
  const grid = h('ul', { class: 'apps', 'aria-label': 'Apps' }, h('li', { class: 'muted' }, 'Loading apps…'));
  fetchWorkbench().then(
    (apps) =>
      grid.replaceChildren(
        ...(apps.length === 0
          ? [h('li', { class: 'muted' }, 'No apps are available to you yet.')]
          : apps.map((app) =>
              h(
                'li',
                {},
                h(
                  'a',
                  {
                    class: 'app-tile',
                    href: app.openUrl,
                    target: '_blank',
                    rel: 'noopener',
                    'data-app': app.slug,
                    'aria-label': `${app.name} (opens in a new tab)`,
                  },
                  appIcon(app),
                  h(
                    'span',
                    { class: 'app-text' },
                    h('strong', {}, app.name),
                    app.description ? h('span', { class: 'muted' }, app.description) : null,
                  ),
                ),
              ),
            )),
      ),
    (error: Error) =>
      grid.replaceChildren(h('li', { class: 'notice error' }, `Apps could not be loaded: ${error.message}`)),
  );
  return h(
    'section',
    { class: 'panel workbench', 'aria-labelledby': 'workbench-heading' },
    h(
      'header',
      { class: 'panel-head' },
      iconButton('Back to conversations', ICONS.back, () => host.back(), { class: 'icon-button back' }),
      h('h2', { id: 'workbench-heading' }, 'Apps'),
    ),
    h('p', { class: 'muted' }, 'Campus apps you can use. They open in a new tab, already signed in.'),
    grid,
  );
}
