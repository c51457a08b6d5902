import type { PresentedApp } from '../../apps-registry/present-app.ts';

const AND = new Intl.ListFormat('en', { type: 'conjunction' });

/**
 * What the console says after "Disable app" or "Enable app", and only what holds when the page comes back:
 * the chat nodes were told before (changeAppStatus). A node that could not be told now learns it at its
 * next check with the gateway (ENDED_ACCESS_POLL_SECONDS, 15 s by default); the notice names it.
 */
export function appStatusNotice(change: { app: PresentedApp; changed: boolean; untold: string[] | null }): string {
  const { app, changed, untold } = change;
  if (!changed) return `${app.name} was already ${app.disabled ? 'disabled' : 'enabled'}; nothing changed.`;
  const done = app.disabled
    ? `Disabled ${app.name}: it is off every workbench, nobody can sign in to it, and the chat nodes take no more messages from its bot and send it no more card clicks.`
    : `Enabled ${app.name}: it is back on the workbench of the people it is for, and they can sign in to it again${app.botEnabled ? '; its bot and its card buttons work again' : ''}.`;
  if (untold?.length === 0) return done;
  const one = untold?.length === 1;
  const late = untold
    ? `The chat ${one ? 'node' : 'nodes'} of ${AND.format(untold)} could not be told just now`
    : 'Not every chat node answered in time';
  return `${done} ${late}: ${one ? 'it learns' : 'they learn'} of it at ${one ? 'its' : 'their'} next check with the gateway, within 15 seconds by default.`;
}
