import { Router, type Request, type Response } from 'express';
import { ValidationError } from '../../../core/errors.ts';
import { assertMayBeFirstParty } from '../../apps-registry/app-scope.ts';
import { botAddresses } from '../../apps-registry/bot-addresses.ts';
import { deleteApp } from '../../apps-registry/delete-app.ts';
import { getApp, listApps } from '../../apps-registry/list-apps.ts';
import type { PresentedApp } from '../../apps-registry/present-app.ts';
import { registerApp } from '../../apps-registry/register-app.ts';
import { appUrlSchema } from '../../apps-registry/schemas.ts';
import { changeAppStatus } from '../../apps-registry/set-app-disabled.ts';
import { updateApp } from '../../apps-registry/update-app.ts';
import { isFullAdmin } from '../../accounts/scope.ts';
import { unitTree } from '../../accounts/unit-tree.ts';
import { ROLES } from '../../models/index.ts';
import {
  bodyOf,
  formBody,
  formFailure,
  list,
  text,
  tooLongFailure,
  typedFormBody,
  type Body,
  type FormFailure,
} from '../form-input.ts';
import type { ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';
import { NotUnderstoodError } from '../../factors/errors.ts';
import { secretGraces } from '../../apps-registry/secret-graces.ts';
import { appSecretRoutes, showSecretsOnce, type AppSealers, type Unticked } from './app-secrets.ts';
import { appStatusNotice } from './app-status-notice.ts';
import { mergeShown, shownIn, shownJson, staleFormFailure, type FormFields } from '../shown-form.ts';
import type { GatewayContext } from '../../context.ts';

/** The form's fields as the use-cases take them; an empty optional field is left out (new) or cleared (edit). */
function appInput(body: Body, empty: undefined | null) {
  const optional = (name: string) => text(body, name).trim() || empty;
  return {
    name: text(body, 'name'),
    icon: optional('icon'),
    description: optional('description'),
    homeUrl: optional('homeUrl'),
    redirectUris: list(body, 'redirectUris'),
    postLogoutRedirectUris: list(body, 'postLogoutRedirectUris'),
    backchannelLogoutUri: optional('backchannelLogoutUri'),
    interactionCallbackUrl: optional('interactionCallbackUrl'),
    ownerUnit: optional('ownerUnit'),
    visibility: { units: list(body, 'visibilityUnits'), roles: list(body, 'visibilityRoles') },
    // An unticked box is "off" only where the form offered it; a unit admin's form leaves the flag alone.
    firstParty: text(body, 'firstParty') !== '' ? true : text(body, 'firstPartyOffered') ? false : undefined,
    botEnabled: text(body, 'botEnabled') !== '',
  };
}

/** What the form shows: the input as typed, or the app as stored. */
type Typed = {
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  visibility: { units: string[]; roles: string[] };
} & Record<string, unknown>;

function formValues(input: Typed) {
  return {
    ...input,
    redirectUris: input.redirectUris.join('\n'),
    postLogoutRedirectUris: input.postLogoutRedirectUris.join('\n'),
    visibilityUnits: input.visibility.units,
    visibilityRoles: input.visibility.roles,
  };
}

const storedValues = (app: PresentedApp) =>
  formValues({
    name: app.name,
    icon: app.icon ?? undefined,
    description: app.description ?? undefined,
    homeUrl: app.homeUrl ?? undefined,
    redirectUris: app.redirectUris,
    postLogoutRedirectUris: app.postLogoutRedirectUris,
    backchannelLogoutUri: app.backchannelLogoutUri ?? undefined,
    interactionCallbackUrl: app.interactionCallbackUrl ?? undefined,
    ownerUnit: app.ownerUnit ?? undefined,
    visibility: app.visibility,
    firstParty: app.firstParty,
    botEnabled: app.botEnabled,
  });

/**
 * The edit form's fields as its page sends them for the app as stored, for the page to carry and a save
 * to be compared with (shown-form.ts); the first-party box only where the page offers it.
 */
function appFields(app: PresentedApp, firstPartyOffered: boolean): FormFields {
  return {
    name: app.name,
    icon: app.icon ?? '',
    description: app.description ?? '',
    homeUrl: app.homeUrl ?? '',
    redirectUris: app.redirectUris.join('\n'),
    postLogoutRedirectUris: app.postLogoutRedirectUris.join('\n'),
    backchannelLogoutUri: app.backchannelLogoutUri ?? '',
    interactionCallbackUrl: app.interactionCallbackUrl ?? '',
    ownerUnit: app.ownerUnit ?? '',
    visibilityUnits: app.visibility.units,
    visibilityRoles: app.visibility.roles,
    ...(firstPartyOffered ? { firstParty: app.firstParty ? 'on' : '' } : {}),
    botEnabled: app.botEnabled ? 'on' : '',
  };
}

/** A unit admin sees the first-party box only on an app a campus administrator made first-party, to clear it. */
const offersFirstParty = (ctx: GatewayContext, app: PresentedApp | null) =>
  isFullAdmin(ctx.actor) || app?.firstParty === true;

/** How a refusal of a stale form names the app and its fields (shown-form.ts). */
const staleWords = (app: PresentedApp) => ({
  what: app.name,
  labels: {
    name: 'name',
    icon: 'icon',
    description: 'description',
    homeUrl: 'home URL',
    redirectUris: 'redirect URIs',
    postLogoutRedirectUris: 'post-logout redirect URIs',
    backchannelLogoutUri: 'back-channel logout URI',
    interactionCallbackUrl: 'interaction callback URL',
    ownerUnit: 'owner unit',
    visibilityUnits: 'visible to units',
    visibilityRoles: 'visible to roles',
    firstParty: 'first-party',
    botEnabled: 'bot',
  },
  flags: ['firstParty', 'botEnabled'],
  errorKeys: { visibilityUnits: 'visibility', visibilityRoles: 'visibility', firstParty: 'trust', botEnabled: 'trust' },
});

/** What a new app's form starts with. */
const NEW_APP = { visibilityUnits: [], visibilityRoles: [], firstParty: false, botEnabled: false };

const URI_FIELDS = ['redirectUris', 'postLogoutRedirectUris'] as const;
type LineErrors = Partial<Record<(typeof URI_FIELDS)[number], { line: number; message: string }[]>>;

/**
 * A list of URIs as typed, less the one newline a browser drops at the start of a textarea it is shown
 * in, so that the line numbers an error gives are those of the form shown again.
 */
const typedUris = (body: Body, name: string) => text(body, name).replace(/^\r?\n/, '');

/** Each URI of a typed list (one a line, or comma-separated, as `list` reads them) with the number of its line. */
function numberedUris(typed: string): { line: number; uri: string }[] {
  return typed.split(/\r\n|\r|\n/).flatMap((line, i) =>
    line
      .split(',')
      .map((uri) => uri.trim())
      .filter(Boolean)
      .map((uri) => ({ line: i + 1, uri })),
  );
}

/**
 * What the form shows after a refusal: the values as typed (the URI lists word for word, so the line
 * numbers fit), and each URI the use-case refused on the line it was typed on, with all that is wrong
 * with it (the use-case names the first problem of each).
 */
function refusedForm(error: unknown, body: Body, input: Typed) {
  const failure = formFailure(error);
  const values: Record<string, unknown> = formValues(input);
  const lineErrors: LineErrors = {};
  for (const field of URI_FIELDS) {
    values[field] = typedUris(body, field);
    if (!(error instanceof ValidationError)) continue;
    const fields = error.fields;
    const lines = numberedUris(typedUris(body, field)).flatMap(({ line, uri }, i) => {
      const refused = fields[`${field}.${i}`];
      if (!refused) return [];
      const problems = appUrlSchema.safeParse(uri).error?.issues.map((issue) => issue.message) ?? [refused];
      return [{ line, message: `${uri}: ${problems.join('; ')}` }];
    });
    if (lines.length === 0) continue;
    lineErrors[field] = lines;
    failure.errors[field] =
      lines.length === 1 ? '1 line is not acceptable:' : `${lines.length} lines are not acceptable:`;
  }
  return { values, failure: { ...failure, lineErrors } };
}

type RenderForm = (
  req: Request,
  res: Response,
  app: PresentedApp | null,
  values: Record<string, unknown>,
  failure?: FormFailure,
) => Promise<void>;

/** A form shown again after a refusal carries what its page first showed (shown-form.ts). */
type Shown = Record<string, unknown> | null;

/**
 * The parsers of the forms typed into (register, edit, delete): a post too large to read shows its form
 * again, as it would open, with what to do; nothing of it was read.
 */
function typedBodies(kit: ConsoleKit, renderForm: RenderForm) {
  const storedAgain = (errors?: Record<string, string>) =>
    typedFormBody(async (req, res) => {
      const app = await getApp(kit.context(req), String(req.params.slug));
      await renderForm(req, res, app, storedValues(app), tooLongFailure(errors));
    });
  return {
    register: typedFormBody((req, res) => renderForm(req, res, null, NEW_APP, tooLongFailure())),
    edit: storedAgain(),
    delete: storedAgain({ confirm: 'too long: type the slug alone' }),
  };
}

/** Draws an app's form (or the new one's), with what a refusal says and the values it shows. */
function appFormRenderer(kit: ConsoleKit) {
  return async function renderForm(
    req: Request,
    res: Response,
    app: PresentedApp | null,
    values: Record<string, unknown>,
    failure?: FormFailure & { lineErrors?: LineErrors },
    unticked: Unticked = {},
    shown: Shown = null,
  ) {
    const ctx = kit.context(req);
    const campusWide = isFullAdmin(ctx.actor);
    const offerFirstParty = offersFirstParty(ctx, app);
    kit.render(
      req,
      res,
      'app-form',
      {
        title: app ? `App ${app.name}` : 'New app',
        section: 'apps',
        app,
        values,
        shown: app ? shownJson(shown ?? appFields(app, offerFirstParty)) : null,
        units: await unitTree(ctx),
        roles: ROLES,
        campusWide,
        offerFirstParty,
        errors: failure?.errors ?? {},
        lineErrors: failure?.lineErrors ?? {},
        notice: failure?.notice,
        unticked,
        graces: app ? await secretGraces(ctx, app.slug) : null,
        botAddresses: app?.botEnabled ? await botAddresses(ctx, app) : [],
      },
      Object.keys(unticked).length > 0 ? 400 : failure?.status,
    );
  };
}

/**
 * Apps: the list, register, edit, disable/enable, rotate the client or callback secret, delete. A unit
 * admin sees and registers only the apps of their own units, and is not offered the first-party flag,
 * which only campus administrators may set. New secrets are shown once, on the page the action redirects
 * to (app-secrets.ts).
 */
export function appRoutes(kit: ConsoleKit, sealers: AppSealers): Router {
  const router = Router();

  const renderForm = appFormRenderer(kit);

  router.get('/apps', async (req, res) => {
    const ctx = kit.context(req);
    const apps = (await listApps(ctx)).map((app) => ({
      ...app,
      iconText: app.icon && !/^https?:/.test(app.icon) ? app.icon : null,
    }));
    kit.render(req, res, 'apps', { title: 'Apps', section: 'apps', apps, campusWide: isFullAdmin(ctx.actor) });
  });

  router.get('/apps/new', async (req, res) => {
    await renderForm(req, res, null, NEW_APP);
  });

  const typed = typedBodies(kit, renderForm);

  router.post('/apps', typed.register, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const input = { ...appInput(body, undefined), slug: text(body, 'slug').trim() || undefined };
    try {
      const registered = await registerApp(kit.context(req), input, sealers.callbackSecrets);
      const { clientSecret, callbackSecret, slugTaken } = registered;
      showSecretsOnce(req, res, sealers.shownSecrets, registered.slug, {
        kind: 'registered',
        clientSecret,
        callbackSecret,
        ...(slugTaken ? { slugTaken } : {}),
      });
    } catch (error) {
      const { values, failure } = refusedForm(error, body, input);
      await renderForm(req, res, null, { ...values, slug: input.slug }, failure);
    }
  });

  router.get('/apps/:slug', async (req, res) => {
    const app = await getApp(kit.context(req), String(req.params.slug));
    await renderForm(req, res, app, storedValues(app));
  });

  // Only what was changed on the page is saved: what someone else changed since stays (shown-form.ts).
  router.post('/apps/:slug', typed.edit, kit.csrf.check, async (req, res) => {
    const ctx = kit.context(req);
    const app = await getApp(ctx, String(req.params.slug));
    const body = bodyOf(req);
    const shown = shownIn(body);
    // A first-party flag posted where the page offers none is refused as on registering, not ignored.
    if (!offersFirstParty(ctx, app) && text(body, 'firstParty') !== '') {
      try {
        assertMayBeFirstParty(ctx, app, true);
      } catch (error) {
        const { values, failure } = refusedForm(error, body, appInput(body, null));
        return renderForm(req, res, app, values, failure, {}, shown);
      }
    }
    const merge = shown && mergeShown(body, shown, appFields(app, offersFirstParty(ctx, app)));
    if (!merge || merge.conflicts.length > 0)
      return renderForm(
        req,
        res,
        app,
        storedValues(app),
        staleFormFailure(body, merge?.conflicts ?? null, staleWords(app)),
      );
    if (merge.changed.length === 0) {
      setFlash(req, `Nothing changed for ${app.name}.`);
      return res.redirect(303, `/admin/apps/${encodeURIComponent(app.slug)}`);
    }
    const input = appInput(merge.body, null);
    try {
      await updateApp(ctx, app.slug, input);
      setFlash(req, `Saved ${input.name || app.name}.`);
      res.redirect(303, `/admin/apps/${encodeURIComponent(app.slug)}`);
    } catch (error) {
      const { values, failure } = refusedForm(error, body, appInput(body, null));
      await renderForm(req, res, app, values, failure, {}, shown);
    }
  });

  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    router.post(`/apps/:slug/${action}`, formBody, kit.csrf.check, async (req, res) => {
      const stored = await getApp(kit.context(req), String(req.params.slug));
      // Disabling ends everyone's use of the app at once: only with the box beside the button ticked.
      if (disabled && !stored.disabled && text(bodyOf(req), 'understood') !== 'yes') {
        const refusal = new NotUnderstoodError(`disable ${stored.name}`, 'It was not disabled.');
        const unticked = { disable: formFailure(refusal).notice };
        return renderForm(req, res, stored, storedValues(stored), undefined, unticked);
      }
      const change = await changeAppStatus(kit.context(req), stored.slug, disabled);
      setFlash(req, appStatusNotice(change));
      res.redirect(303, `/admin/apps/${encodeURIComponent(change.app.slug)}`);
    });
  }

  appSecretRoutes(router, kit, sealers, (req, res, app, unticked) =>
    renderForm(req, res, app, storedValues(app), undefined, unticked),
  );

  router.post('/apps/:slug/delete', typed.delete, kit.csrf.check, async (req, res) => {
    const app = await getApp(kit.context(req), String(req.params.slug));
    if (text(bodyOf(req), 'confirm').trim() !== app.slug) {
      const failure = formFailure(
        new ValidationError("Type the app's slug to confirm the deletion", { confirm: `type ${app.slug} to confirm` }),
      );
      return renderForm(req, res, app, storedValues(app), failure);
    }
    await deleteApp(kit.context(req), app.slug);
    setFlash(req, `Deleted ${app.name}; its client and every token issued to it are gone.`);
    res.redirect(303, '/admin/apps');
  });

  return router;
}
