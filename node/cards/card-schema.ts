import { z } from 'zod';
import { isLoopbackHost } from '../../core/loopback.ts';

/** How long a link action's URL may be: what browsers and servers take everywhere, with room to spare. */
export const MAX_LINK_URL = 2000;

/**
 * Where a link action may lead: a web page, by https, or by http on this machine only (a demo or test
 * campus), as an app's own URLs (gateway/apps-registry/schemas.ts). Never `javascript:`, `data:` and the like.
 */
const linkUrlSchema = z
  .string()
  .max(MAX_LINK_URL, { message: `at most ${MAX_LINK_URL} characters` })
  .refine((u) => URL.canParse(u), { message: 'an absolute URL' })
  .refine(
    (u) => {
      const url = URL.parse(u);
      return !url || url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
    },
    { message: 'must use https (http is allowed only for localhost)' },
  )
  // "https://rooms.campus.test@elsewhere.test/" leads elsewhere than it reads.
  .refine((u) => !URL.parse(u)?.username && !URL.parse(u)?.password, {
    message: 'must not contain a user name or password',
  });

/**
 * An interactive card: a title, some text, label/value fields and actions. Every part is bounded; all of it
 * is plain text, which whoever renders it must escape. `object` makes its objects strict or not. An action
 * is a button whose clicks go to the app (`id`), or a link (`url`) a client opens itself, sending nothing.
 */
function cardSchemaOf(object: typeof z.object | typeof z.strictObject) {
  return object({
    title: z
      .string()
      .trim()
      .min(1, { message: 'a card needs a title' })
      .max(200, { message: 'at most 200 characters' }),
    text: z.string().max(4000, { message: 'at most 4000 characters' }).optional(),
    fields: z
      .array(
        object({
          label: z.string().trim().min(1, { message: 'required' }).max(100, { message: 'at most 100 characters' }),
          value: z.string().max(1000, { message: 'at most 1000 characters' }),
        }),
      )
      .max(20, { message: 'at most 20 fields' })
      .default([]),
    actions: z
      .array(
        object({
          id: z
            .string()
            .regex(/^[A-Za-z0-9_.:-]{1,64}$/, { message: '1-64 letters, digits or _ . : -' })
            .optional(),
          label: z.string().trim().min(1, { message: 'required' }).max(60, { message: 'at most 60 characters' }),
          style: z.enum(['primary', 'danger', 'default']).optional(),
          url: linkUrlSchema.optional(),
        }).refine((action) => action.id !== undefined || action.url !== undefined, {
          message: 'required (or a url, for a link)',
          path: ['id'],
        }),
      )
      .max(8, { message: 'at most 8 actions' })
      .default([]),
  }).refine((card) => !hasDuplicates(card.actions.flatMap((a) => (a.id === undefined ? [] : [a.id]))), {
    message: 'action ids must differ',
    path: ['actions'],
  });
}

const hasDuplicates = (ids: string[]) => new Set(ids).size !== ids.length;

/** A card as an app answers a click with it, or as it is stored: what is not a card's is dropped. */
export const cardSchema = cardSchemaOf(z.object);

/**
 * A card a bot posts over HTTP: a field no card has (`stlye`) is refused by name, as a socket frame's is,
 * not dropped.
 */
export const postedCardSchema = cardSchemaOf(z.strictObject);

export type Card = z.infer<typeof cardSchema>;

/** Whether an action is a button whose clicks go to the app (not a link, which a client opens itself). */
export const sendsClicks = (action: Card['actions'][number]): boolean => action.url === undefined;

/** The card as plain text: what search matches and what a client that cannot draw cards shows. */
export function cardText(card: Card): string {
  // A link is kept, so that a client that draws no cards can still offer it.
  const links = card.actions.flatMap((a) => (a.url === undefined ? [] : [`${a.label}: ${a.url}`]));
  return [card.title, card.text, ...card.fields.map((f) => `${f.label}: ${f.value}`), ...links]
    .filter(Boolean)
    .join('\n');
}

/** The body of a card message (or its rewrite after an update). */
export function cardBody(card: Card, senderName: string): Record<string, unknown> {
  return { text: cardText(card), card, senderName, senderKind: 'bot' };
}
