import { z } from 'zod';
import { literalAddressProblem } from '../../core/app-call-policy.ts';
import { plainName } from '../../core/plain-names.ts';
import { isLoopbackHost } from '../../core/loopback.ts';
import { appSlugPattern } from '../../protocol/address.ts';
import { reservedNameProblem } from '../accounts/reserved-names.ts';
import { roleSchema, unitPathSchema } from '../accounts/schemas.ts';

/** An app URL: absolute, https outside localhost, no wildcard, no fragment. */
export const appUrlSchema = z
  .url({ message: 'an absolute URL' })
  .max(500, { message: 'at most 500 characters' })
  .refine((u) => !u.includes('*'), { message: 'wildcards are not allowed' })
  .refine((u) => !URL.parse(u)?.hash, { message: 'must not contain a #fragment' })
  .refine(
    (u) => {
      const url = URL.parse(u);
      if (!url) return true;
      return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
    },
    { message: 'must use https (http is allowed only for localhost)' },
  );

/**
 * A URL the gateway or a node calls (back-channel logout, card callbacks): an app URL that does not name,
 * as a literal address, one the servers never call (link-local, unspecified, multicast). Whether this
 * machine may be called is the operator's (assertCallableUrls); a host name is checked at each call.
 */
export const calledUrlSchema = appUrlSchema.superRefine((url, ctx) => {
  const problem = literalAddressProblem(url, { loopback: true });
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * The slug is the app's bot address on every node (`slug@domain`), so it must be a valid address part,
 * and not a name kept for webhooks (`hook-`) or Atrium itself (see reserved-names.ts).
 */
export const slugSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(appSlugPattern, {
    message: '2-40 lowercase letters, digits and dashes, not starting or ending with a dash',
  })
  .superRefine((slug, ctx) => {
    const problem = reservedNameProblem(slug);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const clientIdSchema = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, { message: 'lowercase letters, digits and dashes' });

const graphemes = (s: string) => [...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(s)].length;

/** An icon: an image URL (as any app URL), or a short text such as an emoji or initials. */
export const iconSchema = z
  .string()
  .trim()
  .min(1, { message: 'an image URL, or an emoji or up to 3 letters' })
  .max(500)
  .superRefine((value, ctx) => {
    if (/^[a-z][a-z0-9+.-]*:/i.test(value)) {
      const url = appUrlSchema.safeParse(value);
      if (!url.success)
        ctx.addIssue({ code: 'custom', message: `icon URL ${url.error.issues[0]?.message ?? 'is invalid'}` });
      return;
    }
    if (graphemes(value) > 3 || value.length > 16 || /[<>&"'`\s]/.test(value)) {
      ctx.addIssue({ code: 'custom', message: 'an image URL, or an emoji or up to 3 letters' });
    }
  });

/** An app's name, shown in workbenches and beside its bot's words: plain text that shows as typed (core/plain-names.ts). */
export const nameSchema = plainName(
  z.string().trim().min(1, { message: 'required' }).max(200, { message: 'at most 200 characters' }),
);
export const descriptionSchema = z.string().trim().max(1000, { message: 'at most 1000 characters' });

export const visibilitySchema = z.strictObject({
  units: z.array(unitPathSchema).max(50, { message: 'at most 50 units' }).default([]),
  roles: z.array(roleSchema).max(10).default([]),
});

const uriList = z.array(appUrlSchema).max(20, { message: 'at most 20 URIs' });

/*
 * The admin API's bodies, which the console and the CLI build too: strict, so a misspelt field (`nmae`) or
 * one this version does not have is refused by name (`unknown field`) rather than dropped while the rest
 * is saved, as a socket frame's is.
 */

/** Everything an administrator gives when registering an app. */
export const newAppSchema = z.strictObject({
  name: nameSchema,
  slug: slugSchema.optional(),
  clientId: clientIdSchema.optional(),
  icon: iconSchema.optional(),
  description: descriptionSchema.optional(),
  homeUrl: appUrlSchema.optional(),
  redirectUris: uriList.min(1, { message: 'at least one redirect URI' }),
  postLogoutRedirectUris: uriList.default([]),
  backchannelLogoutUri: calledUrlSchema.optional(),
  interactionCallbackUrl: calledUrlSchema.optional(),
  visibility: visibilitySchema.default({ units: [], roles: [] }),
  ownerUnit: unitPathSchema.optional(),
  firstParty: z.boolean().default(false),
  botEnabled: z.boolean().default(false),
});
export type NewApp = z.infer<typeof newAppSchema>;

/** An edit: fields left out stay; `null` clears an optional one. The slug and client id never change. */
export const appChangesSchema = z.strictObject({
  name: nameSchema.optional(),
  icon: iconSchema.nullable().optional(),
  description: descriptionSchema.nullable().optional(),
  homeUrl: appUrlSchema.nullable().optional(),
  redirectUris: uriList.min(1, { message: 'at least one redirect URI' }).optional(),
  postLogoutRedirectUris: uriList.optional(),
  backchannelLogoutUri: calledUrlSchema.nullable().optional(),
  interactionCallbackUrl: calledUrlSchema.nullable().optional(),
  visibility: visibilitySchema.optional(),
  ownerUnit: unitPathSchema.nullable().optional(),
  firstParty: z.boolean().optional(),
  botEnabled: z.boolean().optional(),
});
export type AppChanges = z.infer<typeof appChangesSchema>;
