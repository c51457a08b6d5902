import { z } from 'zod';

/**
 * An interactive card: a title, some text, label/value fields and action buttons. Every part is bounded;
 * all of it is plain text, which whoever renders it must escape. `object` makes its objects strict or not.
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
          id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, { message: '1-64 letters, digits or _ . : -' }),
          label: z.string().trim().min(1, { message: 'required' }).max(60, { message: 'at most 60 characters' }),
          style: z.enum(['primary', 'danger', 'default']).optional(),
        }),
      )
      .max(8, { message: 'at most 8 actions' })
      .default([]),
  }).refine((card) => new Set(card.actions.map((a) => a.id)).size === card.actions.length, {
    message: 'action ids must differ',
    path: ['actions'],
  });
}

/** A card as an app answers a click with it, or as it is stored: what is not a card's is dropped. */
export const cardSchema = cardSchemaOf(z.object);

/**
 * A card a bot posts over HTTP: a field no card has (`stlye`) is refused by name, as a socket frame's is,
 * not dropped.
 */
export const postedCardSchema = cardSchemaOf(z.strictObject);

export type Card = z.infer<typeof cardSchema>;

/** The card as plain text: what search matches and what a client that cannot draw cards shows. */
export function cardText(card: Card): string {
  return [card.title, card.text, ...card.fields.map((f) => `${f.label}: ${f.value}`)].filter(Boolean).join('\n');
}

/** The body of a card message (or its rewrite after an update). */
export function cardBody(card: Card, senderName: string): Record<string, unknown> {
  return { text: cardText(card), card, senderName, senderKind: 'bot' };
}
