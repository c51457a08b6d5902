import type { Chat, Entry } from './chat.ts';
import { ICONS, icon, iconButton } from './dom.ts';
import { systemText } from './format.ts';

/**
 * Browser notifications for new messages while the tab is hidden, once the person allowed them
 * (asked only when they press the button: browsers ignore or punish unprompted requests).
 */
export function notificationsSupported(): boolean {
  return typeof Notification !== 'undefined';
}

export function notificationsAllowed(): boolean {
  return notificationsSupported() && Notification.permission === 'granted';
}

/** The portal's service worker (client/service-worker.ts), served by the gateway there. */
const WORKER_URL = '/portal-worker.js';

let registration: Promise<ServiceWorkerRegistration | null> | undefined;

/**
 * The service worker's registration, once it is active: where a browser (Chrome on Android) shows a page's
 * notifications only through one. Registered once; null where there can be none (no service workers in
 * this browser, or the registration failed: tried again next time).
 */
function workerRegistration(): Promise<ServiceWorkerRegistration | null> {
  if (!('serviceWorker' in navigator)) return Promise.resolve(null);
  registration ??= navigator.serviceWorker
    .register(WORKER_URL, { scope: '/' })
    .then(() => navigator.serviceWorker.ready)
    .catch((error: unknown) => {
      console.warn('The portal’s service worker could not be registered:', error);
      registration = undefined;
      return null;
    });
  return registration;
}

/** Said once the person is back, when a notification could not be shown while they were away. */
export const NOTIFICATIONS_FAILED =
  'This browser did not let the portal show notifications of the messages that came while it was in the ' +
  'background. They are all here.';

/** Only the person can undo a block, in their browser's settings for the site: the page cannot ask again. */
export const NOTIFICATIONS_BLOCKED =
  'Notifications are blocked for this site in your browser. To get them, allow notifications for this site in ' +
  'the browser’s site settings (the icon beside the address), then reload the page.';

/**
 * The top bar's bell while notifications may still be turned on: it asks the browser, and goes once they
 * are allowed. Refused, it says so and how to allow them, and becomes a "blocked" bell that says it again
 * (the browser does not ask twice). None when they are allowed, or were blocked before the page opened.
 */
export function notificationBell(say: (text: string) => void): HTMLButtonElement | null {
  if (!notificationsSupported() || Notification.permission !== 'default') return null;
  const bell = iconButton('Turn on notifications', ICONS.bell, async () => {
    if (bell.dataset.state === 'blocked') {
      if (Notification.permission === 'granted') bell.remove();
      else say(NOTIFICATIONS_BLOCKED);
      return;
    }
    const answer = await Notification.requestPermission();
    if (answer === 'granted') {
      bell.remove();
      void workerRegistration();
    } else if (answer === 'denied') {
      bell.dataset.state = 'blocked';
      bell.replaceChildren(icon(ICONS.bellOff));
      bell.setAttribute('aria-label', 'Notifications are blocked');
      bell.title = 'Notifications are blocked: how to allow them';
      say(NOTIFICATIONS_BLOCKED);
    } else say('Notifications were not turned on. Press the bell again to be asked again.');
  });
  return bell;
}

/**
 * Shows a notification of each message that comes while the tab is hidden, once allowed: by the page
 * itself, else (where the browser refuses that, as Chrome on Android does) through the service worker.
 * A click shows the conversation, in this tab. One that cannot be shown either way is said (`say`) once
 * the person is back, rather than lost without a word.
 */
export function notifyOnIncoming(chat: Chat, open: (key: string) => void, say: (text: string) => void): void {
  let missed = false;
  if (notificationsAllowed()) void workerRegistration();
  // A click on a notification the service worker showed reaches the worker, which tells the tab.
  navigator.serviceWorker?.addEventListener('message', (event: MessageEvent<{ open?: unknown } | null>) => {
    if (typeof event.data?.open === 'string') open(event.data.open);
  });
  navigator.serviceWorker?.startMessages();
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible' || !missed) return;
    missed = false;
    say(NOTIFICATIONS_FAILED);
  });
  chat.on('incoming', ({ entry, message }) => {
    if (document.visibilityState !== 'hidden' || !notificationsAllowed()) return;
    const who = chat.senderNow(entry, message);
    const title = entry.conv.kind === 'group' ? `${who} in ${chat.title(entry)}` : who;
    const body =
      message.kind === 'card'
        ? 'sent a card'
        : message.kind === 'system'
          ? systemText(message as never, (a) => chat.nameIn(entry, a))
          : message.text || 'sent a file';
    show(entry, title, body, open).catch((error: unknown) => {
      console.warn('A notification could not be shown:', error);
      missed = true;
    });
  });
}

/** The portal's address of a conversation, for a notification clicked with no portal tab open. */
const urlOf = (entry: Entry) => `/#/c/${encodeURIComponent(entry.domain)}/${encodeURIComponent(entry.conv.id)}`;

async function show(entry: Entry, title: string, body: string, open: (key: string) => void): Promise<void> {
  let notification: Notification;
  try {
    notification = new Notification(title, { body, tag: entry.key });
  } catch (refused) {
    // "Illegal constructor" (Chrome on Android): only a service worker's registration may show one.
    const worker = await workerRegistration();
    if (!worker) throw refused;
    return worker.showNotification(title, { body, tag: entry.key, data: { key: entry.key, url: urlOf(entry) } });
  }
  notification.onclick = () => {
    window.focus();
    open(entry.key);
    notification.close();
  };
}
