import { deleteApp } from '../gateway/apps-registry/delete-app.ts';
import { getApp, listApps } from '../gateway/apps-registry/list-apps.ts';
import type { PresentedApp } from '../gateway/apps-registry/present-app.ts';
import { registerApp } from '../gateway/apps-registry/register-app.ts';
import { rotateCallbackSecret, rotateClientSecret, type Rotated } from '../gateway/apps-registry/rotate-secrets.ts';
import { secretGraces, type SecretGraces } from '../gateway/apps-registry/secret-graces.ts';
import { DEFAULT_GRACE_SECONDS, parseGrace } from '../gateway/apps-registry/grace.ts';
import { callbackSecretSealer } from '../gateway/apps-registry/secrets.ts';
import { changeAppStatus } from '../gateway/apps-registry/set-app-disabled.ts';
import { updateApp } from '../gateway/apps-registry/update-app.ts';
import { showingControlCharacters } from '../core/control-characters.ts';
import { utcText } from '../core/utc-text.ts';
import { ROLES } from '../gateway/models/index.ts';
import { UsageError, type Args, type Command, type CommandGroup, type OptionSpec } from './command.ts';
import { withSession } from './session.ts';
import { table } from './table.ts';

const ONCE = 'Shown only this once and cannot be displayed again; store it now.';

/** The options `add` and `update` share; `update` changes only what is given. */
const settings: Record<string, OptionSpec> = {
  name: { type: 'string', value: 'NAME', help: 'name shown to people (workbench, consent page, chat)' },
  icon: { type: 'string', value: 'ICON', help: 'an https image URL, or an emoji or up to 3 letters' },
  description: { type: 'string', value: 'TEXT', help: 'one or two sentences for the workbench' },
  'home-url': { type: 'string', value: 'URL', help: 'where opening the app from the workbench goes' },
  'redirect-uri': {
    type: 'string',
    value: 'URI',
    multiple: true,
    help: 'where sign-in returns (https, or http on localhost); repeat for several',
  },
  'post-logout-redirect-uri': {
    type: 'string',
    value: 'URI',
    multiple: true,
    help: 'where RP-initiated logout may return',
  },
  'backchannel-logout-uri': {
    type: 'string',
    value: 'URI',
    help: 'receives a logout token when a user signs out at the gateway',
  },
  'callback-url': { type: 'string', value: 'URL', help: 'receives signed card clicks (interaction callback URL)' },
  'owner-unit': {
    type: 'string',
    value: 'PATH',
    help: 'the unit whose admins manage the app; only its people see it (default: campus-wide)',
  },
  'visible-unit': {
    type: 'string',
    value: 'PATH',
    multiple: true,
    help: 'only people of these units see the app (repeat; default: the whole owner unit)',
  },
  'visible-role': {
    type: 'string',
    value: 'ROLE',
    multiple: true,
    help: `only people with one of these roles see it (${ROLES.join(', ')})`,
  },
};

/** Whom an app shows to, as the console says it: an app of a unit with no other limit is its unit's alone. */
function visibleTo(app: PresentedApp, roleWord: string, separator: string): string {
  const visible = [...app.visibility.units, ...app.visibility.roles.map((r) => `${roleWord}${r}`)];
  return visible.length > 0 ? visible.join(separator) : `everyone${app.ownerUnit ? ` in ${app.ownerUnit}` : ''}`;
}

/**
 * Free text an app was given, on one line of the terminal: line breaks and tabs become spaces, and any other
 * control character (an escape sequence, a right-to-left override) is shown as its code point, never sent
 * to the terminal as it is.
 */
function oneLine(text: string): string {
  return showingControlCharacters(text.replace(/[\t\n\v\f\r\u0085\u2028\u2029]+/g, ' ').trim());
}

function describe(app: PresentedApp, graces?: SecretGraces): string {
  const settings: [string, string][] = [
    ['icon', app.icon ? oneLine(app.icon) : '-'],
    ['description', app.description ? oneLine(app.description) : '-'],
    ['client id', app.clientId],
    ['home URL', app.homeUrl ?? '-'],
    ['redirect URIs', app.redirectUris.join(', ')],
    ['post-logout URIs', app.postLogoutRedirectUris.join(', ') || '-'],
    ['back-channel logout', app.backchannelLogoutUri ?? '-'],
    ['callback URL', app.interactionCallbackUrl ?? '-'],
    ['owner unit', app.ownerUnit ?? 'campus-wide'],
    ['visible to', visibleTo(app, 'role ', ', ')],
    ['first-party', `${app.firstParty ? 'yes' : 'no'}   bot: ${app.botEnabled ? `yes (${app.slug}@<domain>)` : 'no'}`],
  ];
  for (const [label, until] of [
    ['client secret', graces?.clientSecretPreviousUntil],
    ['callback secret', graces?.callbackSecretPreviousUntil],
  ] as const) {
    if (until) settings.push([label, `the previous secret keeps working until ${utcText(new Date(until))}`]);
  }
  const width = Math.max(...settings.map(([label]) => label.length)) + 3;
  return [
    `${app.name} (${app.slug})${app.disabled ? ' [disabled]' : ''}`,
    ...settings.map(([label, value]) => `  ${`${label}:`.padEnd(width)}${value}`),
  ].join('\n');
}

function yesNo(args: Args, name: string): boolean | undefined {
  const value = args.string(name);
  if (value === undefined) return undefined;
  if (['yes', 'true', 'on'].includes(value)) return true;
  if (['no', 'false', 'off'].includes(value)) return false;
  throw new UsageError(`--${name} takes yes or no`);
}

/** An option given as "" clears the field on update. */
function clearable(args: Args, name: string): string | null | undefined {
  const value = args.string(name);
  return value === undefined ? undefined : value.trim() === '' ? null : value;
}

/**
 * A list option of update: left out, it stays; given, its values replace the old ones, and "" alone clears
 * it. Redirect URIs cannot be cleared: sign-in needs somewhere to return to, so an app keeps at least one.
 */
function uriList(args: Args, name: 'redirect-uri' | 'post-logout-redirect-uri'): string[] | undefined {
  const values = args.list(name);
  if (values.length === 0) return undefined;
  if (values.some((value) => value.trim() !== '')) return values;
  if (name === 'redirect-uri')
    throw new UsageError(
      'an app keeps at least one redirect URI, so --redirect-uri "" cannot clear them; give the ones it should have instead (--redirect-uri URI, repeated), which replace the old ones',
    );
  return [];
}

function status(disabled: boolean): Command {
  return {
    summary: disabled
      ? 'Disables an app: hidden from everyone, its client stops working (no sign-in, no tokens), its bot falls silent.'
      : 'Enables a disabled app again, with the same secrets.',
    args: ['SLUG'],
    async run(args, io) {
      const { app, changed } = await withSession(io, ({ ctx }) => changeAppStatus(ctx, args.positionals[0]!, disabled));
      // Run again on an app already so, it says so and changes nothing (exit status 0: what was asked holds).
      const text = changed
        ? `${disabled ? 'Disabled' : 'Enabled'} ${app.name} (${app.slug}).`
        : `${app.name} (${app.slug}) was already ${disabled ? 'disabled' : 'enabled'}; nothing changed.`;
      return { json: app, text };
    },
  };
}

export const appCommands: CommandGroup = {
  add: {
    summary:
      'Registers an app as an OIDC client of the gateway and prints its client id and secrets (shown only this once).',
    options: {
      ...settings,
      name: { ...settings.name!, required: true },
      'redirect-uri': { ...settings['redirect-uri']!, required: true },
      slug: { type: 'string', value: 'SLUG', help: "the app's short name and bot address (default: from the name)" },
      'client-id': { type: 'string', value: 'ID', help: 'choose the client id (default: app-XXXXXXXX)' },
      'first-party': { type: 'boolean', help: 'trusted campus app: users are not asked for consent' },
      bot: {
        type: 'boolean',
        help: 'the app may post in chat as slug@domain (client-credentials tokens for domain nodes)',
      },
    },
    async run(args, io) {
      const app = await withSession(io, ({ ctx, config }) =>
        registerApp(
          ctx,
          {
            name: args.string('name'),
            slug: args.string('slug'),
            clientId: args.string('client-id'),
            icon: args.string('icon'),
            description: args.string('description'),
            homeUrl: args.string('home-url'),
            redirectUris: args.list('redirect-uri'),
            postLogoutRedirectUris: args.list('post-logout-redirect-uri'),
            backchannelLogoutUri: args.string('backchannel-logout-uri'),
            interactionCallbackUrl: args.string('callback-url'),
            ownerUnit: args.string('owner-unit'),
            visibility: { units: args.list('visible-unit'), roles: args.list('visible-role') },
            firstParty: args.flag('first-party'),
            botEnabled: args.flag('bot'),
          },
          callbackSecretSealer(config.secretKey),
        ),
      );
      const { app: presented, ...secrets } = app;
      return {
        json: { ...secrets, app: presented },
        text: [
          `Registered app "${app.name}".`,
          `  client id:       ${app.clientId}`,
          `  client secret:   ${app.clientSecret}`,
          ...(app.callbackSecret ? [`  callback secret: ${app.callbackSecret}`] : []),
          `  slug:            ${app.slug}${app.slugTaken ? ` (${app.slugTaken.slug} is taken: ${app.slugTaken.reason})` : ''}`,
          app.callbackSecret
            ? 'Both secrets are shown only this once and cannot be displayed again; store them now.'
            : `The secret is ${ONCE.charAt(0).toLowerCase()}${ONCE.slice(1)}`,
        ].join('\n'),
      };
    },
  },

  list: {
    summary: 'Lists the registered apps.',
    async run(args, io) {
      const apps = await withSession(io, ({ ctx }) => listApps(ctx));
      if (apps.length === 0) return { json: { apps }, text: 'No apps registered.' };
      const rows = apps.map((a) => [
        a.slug,
        a.name,
        a.clientId,
        a.ownerUnit ?? 'campus-wide',
        visibleTo(a, '', ','),
        [a.disabled ? 'disabled' : 'enabled', a.firstParty ? 'first-party' : '', a.botEnabled ? 'bot' : '']
          .filter(Boolean)
          .join(','),
      ]);
      return { json: { apps }, text: table(['SLUG', 'NAME', 'CLIENT ID', 'OWNER UNIT', 'VISIBLE TO', 'STATUS'], rows) };
    },
  },

  show: {
    summary: "Shows one app's settings (never its secrets).",
    args: ['SLUG'],
    async run(args, io) {
      const { app, graces } = await withSession(io, async ({ ctx }) => ({
        app: await getApp(ctx, args.positionals[0]!),
        graces: await secretGraces(ctx, args.positionals[0]!),
      }));
      return { json: { ...app, ...graces }, text: describe(app, graces) };
    },
  },

  update: {
    summary:
      'Changes an app\'s settings; options left out stay as they are, and an optional one given as "" is cleared (redirect URIs are replaced, never cleared: an app keeps at least one).',
    args: ['SLUG'],
    options: {
      ...settings,
      'redirect-uri': {
        ...settings['redirect-uri']!,
        help: 'replaces every redirect URI; an app keeps at least one, so "" is refused',
      },
      'post-logout-redirect-uri': {
        ...settings['post-logout-redirect-uri']!,
        help: 'replaces every post-logout redirect URI; "" clears them',
      },
      'first-party': { type: 'string', value: 'yes|no', help: 'trusted campus app: users are not asked for consent' },
      bot: { type: 'string', value: 'yes|no', help: 'the app may post in chat as slug@domain' },
      'visible-to-all': {
        type: 'boolean',
        help: 'clear the visibility units and roles (everyone in the owner unit sees it)',
      },
    },
    async run(args, io) {
      const units = args.list('visible-unit');
      const roles = args.list('visible-role');
      const visibility = args.flag('visible-to-all')
        ? { units: [], roles: [] }
        : units.length > 0 || roles.length > 0
          ? { units, roles }
          : undefined;
      const changes = {
        name: args.string('name'),
        icon: clearable(args, 'icon'),
        description: clearable(args, 'description'),
        homeUrl: clearable(args, 'home-url'),
        redirectUris: uriList(args, 'redirect-uri'),
        postLogoutRedirectUris: uriList(args, 'post-logout-redirect-uri'),
        backchannelLogoutUri: clearable(args, 'backchannel-logout-uri'),
        interactionCallbackUrl: clearable(args, 'callback-url'),
        ownerUnit: clearable(args, 'owner-unit'),
        visibility,
        firstParty: yesNo(args, 'first-party'),
        botEnabled: yesNo(args, 'bot'),
      };
      const app = await withSession(io, ({ ctx }) => updateApp(ctx, args.positionals[0]!, changes));
      return { json: app, text: `Saved ${describe(app)}` };
    },
  },

  disable: status(true),
  enable: status(false),

  delete: {
    summary: 'Deletes an app for good: its client and every grant and token issued to it.',
    args: ['SLUG'],
    options: { yes: { type: 'boolean', required: true, help: 'confirm the deletion' } },
    async run(args, io) {
      const result = await withSession(io, ({ ctx }) => deleteApp(ctx, args.positionals[0]!));
      return { json: result, text: `Deleted ${result.slug} (${result.revoked} grant(s) and token(s) revoked).` };
    },
  },

  'rotate-secret': {
    summary:
      'Gives an app a new client secret (or, with --callback, a new callback secret) and prints it once; the old one keeps working for --grace.',
    args: ['SLUG'],
    options: {
      callback: { type: 'boolean', help: 'rotate the secret that signs card clicks instead of the client secret' },
      grace: {
        type: 'string',
        value: 'TIME',
        help: 'how long the old secret keeps working beside the new one, e.g. 24h, 90m, 7d (default 24h); 0 ends it at once, as after a leak',
      },
    },
    async run(args, io) {
      const graceSeconds = graceOption(args);
      if (args.flag('callback')) {
        const result = await withSession(io, ({ ctx, config }) =>
          rotateCallbackSecret(ctx, args.positionals[0]!, callbackSecretSealer(config.secretKey), { graceSeconds }),
        );
        return {
          json: result,
          text: `New callback secret for ${result.slug}: ${result.callbackSecret}\n${ONCE}\n${oldOneWorks('callback', result)}`,
        };
      }
      const result = await withSession(io, ({ ctx }) =>
        rotateClientSecret(ctx, args.positionals[0]!, { graceSeconds }),
      );
      return {
        json: result,
        text: `New client secret for ${result.slug} (client id ${result.clientId}): ${result.clientSecret}\n${ONCE}\n${oldOneWorks('client', result)}`,
      };
    },
  },
};

/** --grace as seconds (grace.ts), a day when not given. */
function graceOption(args: Args): number {
  const raw = args.string('grace');
  if (raw === undefined) return DEFAULT_GRACE_SECONDS;
  const seconds = parseGrace(raw);
  if (seconds === undefined)
    throw new UsageError(
      `--grace expects a time such as 24h, 90m, 7d or 0 (at once), of at most 30d (got ${JSON.stringify(raw)})`,
    );
  return seconds;
}

/** Until when the replaced secret works, as the operator needs to plan the app's redeployment. */
function oldOneWorks(which: 'client' | 'callback', { previousSecretWorksUntil: until, graceKept }: Rotated): string {
  if (until && graceKept) {
    return `The ${which} secret made at the last rotation stopped working now. The one before it, which the app most likely still uses, keeps working until ${utcText(new Date(until))}, as before; give the app the new one before then.`;
  }
  if (!until) return `The old ${which} secret stopped working at once.`;
  return `The old ${which} secret keeps working until ${utcText(new Date(until))}; give the app the new one before then.`;
}
