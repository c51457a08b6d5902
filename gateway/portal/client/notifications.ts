import type { Chat } from './chat.ts';
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
    if (answer === 'granted') bell.remove();
    else if (answer === 'denied') {
      bell.dataset.state = 'blocked';
      bell.replaceChildren(icon(ICONS.bellOff));
      bell.setAttribute('aria-label', 'Notifications are blocked');
      bell.title = 'Notifications are blocked: how to allow them';
      say(NOTIFICATIONS_BLOCKED);
    } else say('Notifications were not turned on. Press the bell again to be asked again.');
  });
  return bell;
}

export function notifyOnIncoming(chat: Chat, open: (key: string) => void): void {
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
    const notification = new Notification(title, { body, tag: entry.key });
    notification.onclick = () => {
      window.focus();
      open(entry.key);
      notification.close();
    };
  });
}
