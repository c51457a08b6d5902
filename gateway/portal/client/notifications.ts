import type { Chat } from './chat.ts';
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

export async function askForNotifications(): Promise<boolean> {
  if (!notificationsSupported()) return false;
  return (await Notification.requestPermission()) === 'granted';
}

export function notifyOnIncoming(chat: Chat, open: (key: string) => void): void {
  chat.on('incoming', ({ entry, message }) => {
    if (document.visibilityState !== 'hidden' || !notificationsAllowed()) return;
    const who = chat.senderOf(entry, message);
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
