import { h } from './dom.ts';
import { linkedText, webLink } from './format.ts';

/** What in a card takes the focus from its pressed button: the button is disabled while the app answers. */
export const CARD_FOCUS = '.card-title';

type CardField = { label: string; value: string };
/** A button sends its clicks to the app; a link (`url`, http or https only) is opened here, in a new tab. */
type CardAction = { id: string; label: string; style: string } | { url: URL; label: string; style: string };
type Card = { title: string; text: string | null; fields: CardField[]; actions: CardAction[]; status: string | null };

const str = (v: unknown): string | null => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null);

/** An app's card as the page trusts it: strings only, whatever else the app put in. */
function parseCard(raw: unknown): Card | null {
  if (!raw || typeof raw !== 'object') return null;
  const card = raw as Record<string, unknown>;
  const fields = Array.isArray(card.fields) ? card.fields : [];
  const actions = Array.isArray(card.actions) ? card.actions : [];
  return {
    title: str(card.title) ?? 'Card',
    text: str(card.text) ?? str(card.body),
    fields: fields
      .map((f) =>
        f && typeof f === 'object'
          ? {
              label: str((f as Record<string, unknown>).label) ?? '',
              value: str((f as Record<string, unknown>).value) ?? '',
            }
          : null,
      )
      .filter((f): f is CardField => f !== null),
    actions: actions
      .map((a) => {
        if (!a || typeof a !== 'object') return null;
        const action = a as Record<string, unknown>;
        const style = str(action.style) ?? 'default';
        if (action.url !== undefined) {
          // A link the page could not open safely is left out, never made a button that calls the app.
          const url = URL.parse(str(action.url) ?? '');
          if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return null;
          return { url, label: str(action.label) ?? url.host, style };
        }
        const id = str(action.id);
        return id ? { id, label: str(action.label) ?? id, style } : null;
      })
      .filter((a): a is CardAction => a !== null),
    status: str(card.status) ?? str(card.note),
  };
}

const styleClass = (style: string) => (style === 'primary' || style === 'danger' ? style : '');

/**
 * A card's link: looks like its buttons, but opens the page in a new tab and sends the app nothing. Where
 * it leads (the host) shows next to its label: an app names its links as it likes, and the person sees
 * whose site it is before following it. Said to a screen reader, with that it opens a new tab.
 */
function cardLink(action: { url: URL; label: string; style: string }): HTMLElement | null {
  return webLink(
    action.url.href,
    [
      action.label,
      ' ',
      h('span', { class: 'card-link-host' }, action.url.host),
      h('span', { class: 'visually-hidden' }, ' (opens in a new tab)'),
    ],
    `card-action card-link ${styleClass(action.style)}`,
  );
}

/**
 * An interactive card: title, fields, and buttons whose clicks go to the app that sent it, or links. A group
 * named by its title, not a region: each card of a long chat would otherwise add a landmark. Its title takes
 * the focus (tabindex -1) where a pressed button goes, disabled or drawn anew (CARD_FOCUS). Web addresses in
 * its text and values are links, as in a message.
 */
export function renderCard(raw: unknown, onAction: (actionId: string, button: HTMLButtonElement) => void): HTMLElement {
  const card = parseCard(raw);
  if (!card) return h('p', { class: 'text muted' }, 'This card cannot be shown.');
  const headingId = `card-${Math.random().toString(36).slice(2)}`;
  return h(
    'div',
    { class: 'card', role: 'group', 'aria-labelledby': headingId },
    h('h3', { id: headingId, class: 'card-title', tabindex: -1 }, card.title),
    card.text ? h('p', {}, linkedText(card.text)) : null,
    card.fields.length
      ? h(
          'dl',
          { class: 'card-fields' },
          card.fields.map((f) => [h('dt', {}, f.label), h('dd', {}, linkedText(f.value))]),
        )
      : null,
    card.status ? h('p', { class: 'card-status', role: 'status' }, card.status) : null,
    card.actions.length
      ? h(
          'div',
          { class: 'card-actions' },
          card.actions.map((a) => {
            if ('url' in a) return cardLink(a);
            const button = h(
              'button',
              { type: 'button', class: `card-action ${styleClass(a.style)}`, 'data-action': a.id },
              a.label,
            );
            button.addEventListener('click', () => onAction(a.id, button));
            return button;
          }),
        )
      : null,
  );
}
