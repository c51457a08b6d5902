/**
 * The portal's service worker, served at /portal-worker.js (gateway/portal/routes/worker.ts) and bundled on
 * its own. It is there for notifications only: Chrome on Android refuses `new Notification` ("Illegal
 * constructor") and shows a page's notifications only through a service worker's registration, and
 * a click on one reaches only the worker. It has no fetch handler, so it never stands between the
 * gateway's pages and the network.
 */

/** What a notification carries (notifications.ts): the conversation's key and its address in the portal. */
type Shown = { key?: unknown; url?: unknown } | null;

/** The parts of the worker's global scope used here (TypeScript's DOM library does not describe it). */
type PortalTab = { url: string; focused: boolean; focus(): Promise<unknown>; postMessage(message: unknown): void };
type Extendable = Event & { waitUntil(done: Promise<unknown>): void };
type WorkerScope = {
  location: Location;
  clients: {
    matchAll(options: { type: 'window'; includeUncontrolled: boolean }): Promise<PortalTab[]>;
    openWindow(url: string): Promise<unknown>;
  };
  skipWaiting(): Promise<void>;
  addEventListener(type: 'install', listener: (event: Extendable) => void): void;
  addEventListener(
    type: 'notificationclick',
    listener: (event: Extendable & { notification: Notification }) => void,
  ): void;
};

const worker = self as unknown as WorkerScope;

// A new version takes over at once: it holds no state a page could depend on.
worker.addEventListener('install', (event) => event.waitUntil(worker.skipWaiting()));

worker.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const opened = openConversation(event.notification.data as Shown);
  event.waitUntil(opened);
});

/**
 * Brings the portal forward at the conversation: an open portal tab (the one in front, if several) is
 * told which one to show and focused; with none open, a new tab opens at its address.
 */
async function openConversation(shown: Shown): Promise<void> {
  const key = typeof shown?.key === 'string' ? shown.key : null;
  const url = typeof shown?.url === 'string' && shown.url.startsWith('/#/') ? shown.url : '/';
  const tabs = (await worker.clients.matchAll({ type: 'window', includeUncontrolled: true })).filter(
    (tab) => new URL(tab.url).pathname === '/',
  );
  const tab = tabs.find((t) => t.focused) ?? tabs[0];
  if (!tab) {
    await worker.clients.openWindow(url);
    return;
  }
  // Told before it is focused: focusing is allowed only in answer to the click, and may be refused.
  if (key) tab.postMessage({ open: key });
  await tab.focus();
}
