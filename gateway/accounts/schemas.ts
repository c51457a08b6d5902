import { z } from 'zod';
import { plainName } from '../../core/plain-names.ts';
import { ROLES } from '../models/index.ts';
import { PASSWORD_MAX, PASSWORD_MIN } from './password-length.ts';
import { reservedNameProblem } from './reserved-names.ts';

export const usernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9._-]{1,63}$/, {
    message: 'use 2-64 letters, digits, dots, dashes or underscores, starting with a letter or digit',
  });

/** A username for a new account: also not one of the names kept for webhooks and Atrium itself. */
export const newUsernameSchema = usernameSchema.superRefine((name, ctx) => {
  const problem = reservedNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email({ message: 'not a valid email address' }).max(254));

/** The longest display name, and unit name, Atrium keeps. */
export const DISPLAY_NAME_MAX = 200;

/**
 * A person's or a unit's name as typed: plain text that shows as typed (core/plain-names.ts). A name a
 * directory gives goes without its control characters first (directories/read-entry.ts): it is not refused.
 */
export const displayNameSchema = plainName(
  z
    .string()
    .trim()
    .min(1, { message: 'required' })
    .max(DISPLAY_NAME_MAX, { message: `at most ${DISPLAY_NAME_MAX} characters` }),
);

export { PASSWORD_MAX, PASSWORD_MIN };

export const passwordSchema = z
  .string()
  .min(PASSWORD_MIN, { message: `at least ${PASSWORD_MIN} characters` })
  .max(PASSWORD_MAX, { message: `at most ${PASSWORD_MAX} characters` })
  // Spaces count inside a passphrase, but twelve of them and nothing else is no secret.
  .refine((password) => /[^\s\p{Cf}]/u.test(password), { message: 'needs letters, digits or signs, not only spaces' });

export const unitPathSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}(\/[a-z0-9][a-z0-9-]{0,62}){0,7}$/, {
    message: 'a path of lowercase segments separated by "/", such as campus/eng/cs',
  });

export const roleSchema = z.enum(ROLES, { message: `one of ${ROLES.join(', ')}` });

export const domainNameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?=.{3,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/, {
    message: 'a DNS-like name such as eng.campus.test',
  });

export const httpUrlSchema = z
  .url({ protocol: /^https?$/, message: 'an absolute http(s) URL' })
  .refine((u) => !URL.parse(u)?.hash, { message: 'must not contain a #fragment' })
  .transform((u) => u.replace(/\/$/, ''));

export const newUserSchema = z.object({
  username: newUsernameSchema,
  displayName: displayNameSchema,
  email: emailSchema,
  password: passwordSchema.optional(),
  units: z.array(unitPathSchema).min(1, { message: 'at least one unit' }),
  roles: z.array(roleSchema).min(1, { message: 'at least one role' }),
});
export type NewUser = z.infer<typeof newUserSchema>;

export const userChangesSchema = z.object({
  displayName: displayNameSchema.optional(),
  email: emailSchema.optional(),
  units: z.array(unitPathSchema).min(1, { message: 'at least one unit' }).optional(),
  roles: z.array(roleSchema).min(1, { message: 'at least one role' }).optional(),
  status: z.enum(['active', 'disabled'], { message: 'active or disabled' }).optional(),
  /** Confirms new units that take the person off a domain they chat on (chat-moves.ts). */
  moveChat: z.boolean().optional(),
});
export type UserChanges = z.infer<typeof userChangesSchema>;
