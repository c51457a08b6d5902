import { FilterParser } from 'ldapts';
import { z } from 'zod';
import { httpUrlSchema, roleSchema, unitPathSchema } from '../accounts/schemas.ts';
import { looksLikeDn } from './dn.ts';
import { PRESETS } from './presets.ts';

export const directoryNameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'use 1-63 lowercase letters, digits or dashes, such as campus-ldap' });

export const ldapUrlSchema = z
  .string()
  .trim()
  .refine((u) => /^ldaps?:\/\/[^/?#\s]+\/?$/i.test(u) && URL.parse(u) !== null, {
    message: 'an ldap://host[:port] (StartTLS) or ldaps://host[:port] URL, without a path',
  })
  .transform((u) => u.replace(/\/$/, '').toLowerCase());

export const dnSchema = z
  .string()
  .trim()
  .max(1000, { message: 'at most 1000 characters' })
  .refine(looksLikeDn, { message: 'a distinguished name such as ou=People,dc=campus,dc=example' });

export const filterSchema = z
  .string()
  .trim()
  .max(2000, { message: 'at most 2000 characters' })
  .refine(
    (f) => {
      if (!f.startsWith('(') || !f.endsWith(')')) return false;
      try {
        FilterParser.parseString(f);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'an LDAP filter in parentheses, such as (objectClass=inetOrgPerson)' },
  );

export const attributeSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, { message: 'an LDAP attribute name such as uid or sAMAccountName' });

/** A group whose members get a role: `staff`, or `unit-admin` of one unit. */
export const roleGroupSchema = z
  .object({ group: dnSchema, role: roleSchema, unit: unitPathSchema.nullable().default(null) })
  .superRefine((g, ctx) => {
    if (g.role === 'unit-admin' && !g.unit)
      ctx.addIssue({
        code: 'custom',
        path: ['unit'],
        message: 'unit-admin needs the unit it administers (unit-admin:PATH=DN)',
      });
    if (g.role !== 'unit-admin' && g.unit)
      ctx.addIssue({ code: 'custom', path: ['unit'], message: 'only unit-admin takes a unit' });
  });
export type RoleGroup = z.infer<typeof roleGroupSchema>;

/**
 * `ROLE=GROUP-DN`, or `unit-admin:UNIT-PATH=GROUP-DN`, as the CLI and the console take it (one a line):
 * `staff=cn=Staff,ou=Groups,dc=campus,dc=example`. The first `=` ends the role, since a DN holds more.
 */
export const roleGroupLineSchema = z
  .string()
  .trim()
  .transform((line, ctx) => {
    const eq = line.indexOf('=');
    const head = eq < 0 ? '' : line.slice(0, eq).trim();
    const [role, unit] = head.split(':', 2).map((s) => s.trim());
    const parsed = roleGroupSchema.safeParse({ group: line.slice(eq + 1), role, unit: unit ?? null });
    if (eq < 0 || !parsed.success) {
      const why =
        parsed.success || eq < 0
          ? 'expected ROLE=GROUP-DN or unit-admin:UNIT=GROUP-DN'
          : parsed.error.issues[0]!.message;
      ctx.addIssue({ code: 'custom', message: `"${line}": ${why}` });
      return z.NEVER;
    }
    return parsed.data;
  });

export const roleGroupLine = (g: RoleGroup) => `${g.role}${g.unit ? `:${g.unit}` : ''}=${g.group}`;

const defaultRoleSchema = z.enum(['student', 'staff'], { message: 'student or staff' });
const timeoutSchema = z.coerce
  .number({ message: 'a number of seconds' })
  .int({ message: 'whole seconds' })
  .min(1, { message: 'from 1 to 60 seconds' })
  .max(60, { message: 'from 1 to 60 seconds' });

/**
 * The share of a directory's active people (in percent) that one sync may disable, or move to other units,
 * before it stops and changes nothing until an administrator confirms it (mass-change.ts); null: no limit.
 */
export const DEFAULT_MASS_CHANGE_LIMIT = 10;
const massChangeLimitSchema = z
  .number({ message: 'a percentage from 1 to 100, or off' })
  .int({ message: 'a whole percentage from 1 to 100, or off' })
  .min(1, { message: 'a percentage from 1 to 100, or off' })
  .max(100, { message: 'a percentage from 1 to 100, or off' });
/** As typed: `10`, `10%`, or `off` (no limit); empty or left out keeps the current one (10 on a registration). */
const massChangeLimitInput = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const typed = v.trim().replace(/\s*%$/, '');
  if (typed === '') return undefined;
  return /^(off|none)$/i.test(typed) ? null : /^\d+$/.test(typed) ? Number(typed) : typed;
}, massChangeLimitSchema.nullable().optional());

/** Where a person's unit comes from: the OUs above their entry, or one attribute (such as department). */
export const UNIT_SOURCES = ['ou', 'attribute'] as const;
export const MEMBERSHIP_SOURCES = ['member', 'memberOf'] as const;

/** Everything about a directory besides its name, URL, CA, service account and reset page (their own columns). */
export const directorySettingsSchema = z.object({
  preset: z.enum(PRESETS),
  startTls: z.boolean(),
  userBase: dnSchema,
  userFilter: filterSchema,
  groupBase: dnSchema.nullable(),
  usernameAttribute: attributeSchema,
  nameAttributes: z.array(attributeSchema).min(1),
  emailAttributes: z.array(attributeSchema).min(1),
  disabledAttribute: attributeSchema.nullable(),
  /** When an entry's account ends; an account ended there is disabled here as a disabled one (account-expiry.ts). */
  expiryAttribute: attributeSchema.nullable(),
  idAttribute: attributeSchema.nullable(),
  /** When an entry's password last changed; a later time signs its person out everywhere (password-changes.ts). */
  passwordChangedAttribute: attributeSchema.nullable(),
  groupMembership: z.enum(MEMBERSHIP_SOURCES),
  unitFrom: z.enum(UNIT_SOURCES),
  unitAttribute: attributeSchema.nullable(),
  unitRoot: unitPathSchema,
  roleGroups: z.array(roleGroupSchema),
  /**
   * Whether a role group's members include the members of the groups nested in it (role-groups.ts).
   * Registrations stored before it existed read as off: following nesting could give their people new
   * roles, admin among them, at the first sync after an upgrade. New registrations start with it on.
   */
  nestedGroups: z.boolean().default(false),
  defaultRole: defaultRoleSchema,
  timeoutSeconds: timeoutSchema,
  /** Registrations stored before it existed take the default: it only ever stops a sync, changing nothing. */
  massChangeLimit: massChangeLimitSchema.nullable().default(DEFAULT_MASS_CHANGE_LIMIT),
});
export type DirectorySettings = z.infer<typeof directorySettingsSchema>;

const optional = <S extends z.ZodType>(schema: S) => schema.optional();
/** "" clears an optional setting. */
const clearable = <S extends z.ZodType>(schema: S) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? null : v), schema.nullable()).optional();
/**
 * An attribute the preset has an answer for, as typed: empty or left out takes the preset's (an update
 * keeps the current one), `none` says the directory has no such attribute. For the entry id, people are
 * then matched by username, which a reused or copied username can fool; for the password change time, a
 * password changed in the directory no longer signs its person out here; for the disabled flag and the
 * account expiry, people the directory locks, disables or ends keep their access here until they leave
 * it. A form's field left empty must not turn any of them off.
 */
const presetAttributeInput = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const typed = v.trim();
  return typed === '' ? undefined : typed.toLowerCase() === 'none' ? null : typed;
}, attributeSchema.nullable().optional());
const booleanInput = (message = 'yes or no') =>
  z.preprocess(
    (v) => (v === 'yes' || v === 'true' || v === 'on' ? true : v === 'no' || v === 'false' || v === 'off' ? false : v),
    z.boolean({ message }),
  );

/**
 * A field every registration has: left out or blank, it says what to enter (the form's required fields are
 * where people most often leave one empty) rather than that no string came.
 */
const required = <S extends z.ZodType<unknown, string>>(schema: S, message: string) =>
  z.string({ message }).trim().min(1, { message }).pipe(schema);

/** What `directories add` and the console's form give; omitted mapping fields come from the preset. */
export const registrationSchema = z.object({
  name: required(directoryNameSchema, 'enter a name for the directory, such as campus-ldap'),
  url: required(ldapUrlSchema, "enter the directory's URL, such as ldap://ldap.campus.example"),
  startTls: optional(booleanInput()),
  caFile: clearable(z.string().trim().max(1000)),
  bindDn: required(dnSchema, "enter the service account's DN, such as cn=atrium,ou=Services,dc=campus,dc=example"),
  // Not trimmed: a password may begin or end with a space.
  bindPassword: z
    .string({ message: "enter the service account's password" })
    .min(1, { message: "enter the service account's password" })
    .max(1000, { message: 'at most 1000 characters' }),
  preset: z.enum(PRESETS, { message: `one of ${PRESETS.join(', ')}` }).default('openldap'),
  userBase: required(dnSchema, 'enter where people are searched, such as ou=People,dc=campus,dc=example'),
  userFilter: optional(filterSchema),
  groupBase: clearable(dnSchema),
  usernameAttribute: optional(attributeSchema),
  nameAttributes: optional(z.array(attributeSchema).min(1)),
  emailAttributes: optional(z.array(attributeSchema).min(1)),
  disabledAttribute: presetAttributeInput,
  expiryAttribute: presetAttributeInput,
  idAttribute: presetAttributeInput,
  passwordChangedAttribute: presetAttributeInput,
  groupMembership: optional(z.enum(MEMBERSHIP_SOURCES, { message: 'member or memberOf' })),
  unitFrom: z.enum(UNIT_SOURCES, { message: 'ou or attribute' }).default('ou'),
  unitAttribute: clearable(attributeSchema),
  unitRoot: required(unitPathSchema, "choose the unit the directory's units go below, such as campus"),
  roleGroups: z.array(roleGroupLineSchema).default([]),
  /** Omitted: on for a new registration, unchanged by an update. */
  nestedGroups: optional(booleanInput('on or off')),
  defaultRole: defaultRoleSchema.default('student'),
  timeoutSeconds: timeoutSchema.default(5),
  massChangeLimit: massChangeLimitInput,
  resetUrl: required(
    httpUrlSchema,
    "enter the directory's own password reset page, such as https://password.campus.example",
  ),
});
export type Registration = z.infer<typeof registrationSchema>;

/** What `directories update` and the console's edit form give: only what changes (the name stays). */
export const changesSchema = registrationSchema
  .omit({ name: true })
  .extend({
    bindPassword: z.string().max(1000).optional(),
    preset: z.enum(PRESETS, { message: `one of ${PRESETS.join(', ')}` }).optional(),
    unitFrom: z.enum(UNIT_SOURCES, { message: 'ou or attribute' }).optional(),
    roleGroups: z.array(roleGroupLineSchema).optional(),
    defaultRole: defaultRoleSchema.optional(),
    timeoutSeconds: timeoutSchema.optional(),
    /**
     * Clears the entry ids the links keep, for a directory rebuilt with new ones (restored from an
     * export, moved to another server): the next sync matches its people by username again.
     */
    forgetEntryIds: optional(booleanInput()),
  })
  .partial();
export type Changes = z.infer<typeof changesSchema>;
