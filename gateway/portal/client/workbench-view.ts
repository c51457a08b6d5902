import { fetchUnitLabels, fetchWorkbench, type WorkbenchApp } from './api.ts';
import { h, ICONS, iconButton } from './dom.ts';
import { initials, hueClass } from './format.ts';
import type { ViewHost } from './conversation-view.ts';

/** An icon of up to three letters or digits ("LA"), as an administrator may give one: drawn as it is. */
const LETTERS = /^[\p{L}\p{N}]{1,3}$/u;

/** What heads the apps no unit owns, when the person also sees apps of a unit. */
const CAMPUS_WIDE = 'Campus-wide';

/**
 * The app's icon: its image (a URL the page's policy allows), else a coloured tile with the letters it
 * was given or the app's initials. An emoji is not drawn: without an emoji font (many Linux desktops,
 * kiosks) it shows as an empty box, and the tile always shows.
 */
function appIcon(app: WorkbenchApp): HTMLElement {
  const icon = app.icon ?? '';
  const tile = (text: string) => h('span', { class: `app-icon ${hueClass(app.slug)}`, 'aria-hidden': 'true' }, text);
  if (/^https?:\/\//.test(icon)) {
    const img = h('img', { class: 'app-icon', src: icon, alt: '' });
    img.addEventListener('error', () => img.replaceWith(tile(initials(app.name))));
    return img;
  }
  return tile(LETTERS.test(icon) ? icon.toUpperCase() : initials(app.name));
}

/**
 * An app's link: named by the name it shows and where it opens; what it shows under the name is its
 * description (a name that left it out would hide it from screen readers).
 */
function appTile(app: WorkbenchApp): HTMLLIElement {
  const describedBy = `app-${app.slug}-description`;
  return h(
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
        'aria-describedby': app.description ? describedBy : null,
      },
      appIcon(app),
      h(
        'span',
        { class: 'app-text' },
        h('strong', {}, app.name),
        app.description ? h('span', { class: 'muted', id: describedBy }, app.description) : null,
      ),
    ),
  );
}

/**
 * The apps under the names of the units that own them, campus-wide ones first, when they are of more
 * than one (else one list, as there is nothing to tell apart). A unit the gateway cannot name shows by its path.
 */
async function drawApps(into: HTMLElement, apps: WorkbenchApp[]): Promise<void> {
  if (apps.length === 0) return into.replaceChildren(h('p', { class: 'muted' }, 'No apps are available to you yet.'));
  const byUnit = new Map<string | null, WorkbenchApp[]>();
  for (const app of apps) byUnit.set(app.ownerUnit, [...(byUnit.get(app.ownerUnit) ?? []), app]);
  if (byUnit.size === 1)
    return into.replaceChildren(h('ul', { class: 'apps', 'aria-label': 'Apps' }, apps.map(appTile)));
  const paths = [...byUnit.keys()].filter((p): p is string => p !== null);
  const labels = new Map((await fetchUnitLabels(paths).catch(() => [])).map((u) => [u.path, u.label]));
  const groups = [...byUnit].map(([path, list]) => ({
    label: path === null ? CAMPUS_WIDE : (labels.get(path) ?? path),
    path,
    list,
  }));
  groups.sort((a, b) => (a.path === null ? -1 : b.path === null ? 1 : a.label.localeCompare(b.label)));
  into.replaceChildren(
    ...groups.map(({ label, list }, i) =>
      h(
        'section',
        { class: 'app-group', 'aria-labelledby': `app-group-${i}` },
        h('h3', { id: `app-group-${i}`, class: 'app-group-name' }, label),
        h('ul', { class: 'apps', 'aria-labelledby': `app-group-${i}` }, list.map(appTile)),
      ),
    ),
  );
}

/** The apps this person may see; each opens in a new tab and signs them in there without asking again. */
export function workbenchView(host: ViewHost): HTMLElement {
  const apps = h('div', { class: 'app-groups' }, h('p', { class: 'muted', role: 'status' }, 'Loading apps…'));
  fetchWorkbench()
    .then((list) => drawApps(apps, list))
    .catch((error: Error) =>
      apps.replaceChildren(h('p', { class: 'notice error' }, `Apps could not be loaded: ${error.message}`)),
    );
  return h(
    'section',
    { class: 'panel workbench', 'aria-labelledby': 'workbench-heading' },
    h(
      'header',
      { class: 'panel-head' },
      iconButton('Back to conversations', ICONS.back, () => host.back(), { class: 'icon-button back' }),
      h('h2', { id: 'workbench-heading', tabindex: -1 }, 'Apps'),
    ),
    h('p', { class: 'muted' }, 'Campus apps you can use. They open in a new tab, already signed in.'),
    apps,
  );
}
