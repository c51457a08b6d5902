import { Router, type Request, type Response } from 'express';
import { ValidationError } from '../../../core/errors.ts';
import type { Sealer } from '../../../core/seal.ts';
import { deleteApp } from '../../apps-registry/delete-app.ts';
import { getApp, listApps } from '../../apps-registry/list-apps.ts';
import type { PresentedApp } from '../../apps-registry/present-app.ts';
import { registerApp } from '../../apps-registry/register-app.ts';
import { rotateCallbackSecret, rotateClientSecret } from '../../apps-registry/rotate-secrets.ts';
import { setAppDisabled } from '../../apps-registry/set-app-disabled.ts';
import { updateApp } from '../../apps-registry/update-app.ts';
import { isFullAdmin } from '../../accounts/scope.ts';
import { unitTree } from '../../accounts/unit-tree.ts';
import { ROLES } from '../../models/index.ts';
import { bodyOf, formBody, formFailure, list, text, type Body, type FormFailure } from '../form-input.ts';
import type { ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';

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
    firstParty: text(body, 'firstParty') !== '',
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
 * Apps: the list, register, edit, disable/enable, rotate the client or callback secret, delete. A unit
 * admin sees and registers only the apps of their own units. New secrets are shown on the response page
 * itself, once, and never stored in the session.
 */
export function appRoutes(kit: ConsoleKit, secrets: Sealer): Router {
  const router = Router();

  async function renderForm(
    req: Request,
    res: Response,
    app: PresentedApp | null,
    values: Record<string, unknown>,
    failure?: FormFailure,
  ) {
    const ctx = kit.context(req);
    kit.render(
      req,
      res,
      'app-form',
      {
        title: app ? `App ${app.name}` : 'New app',
        section: 'apps',
        app,
        values,
        units: await unitTree(ctx),
        roles: ROLES,
        campusWide: isFullAdmin(ctx.actor),
        errors: failure?.errors ?? {},
        notice: failure?.notice,
      },
      failure?.status,
    );
  }

  function renderSecrets(
    req: Request,
    res: Response,
    app: { name: string; slug: string; clientId: string },
    shown: { clientSecret?: string; callbackSecret?: string },
    heading: string,
  ) {
    kit.render(req, res, 'app-secrets', { title: heading, section: 'apps', heading, app, ...shown });
  }

  router.get('/apps', async (req, res) => {
    const apps = (await listApps(kit.context(req))).map((app) => ({
      ...app,
      iconText: app.icon && !/^https?:/.test(app.icon) ? app.icon : null,
    }));
    kit.render(req, res, 'apps', { title: 'Apps', section: 'apps', apps });
  });

  router.get('/apps/new', async (req, res) => {
    await renderForm(req, res, null, {
      visibilityUnits: [],
      visibilityRoles: [],
      firstParty: false,
      botEnabled: false,
    });
  });

  router.post('/apps', formBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const input = { ...appInput(body, undefined), slug: text(body, 'slug').trim() || undefined };
    try {
      const registered = await registerApp(kit.context(req), input, secrets);
      renderSecrets(req, res, registered, registered, `Registered ${registered.name}`);
    } catch (error) {
      await renderForm(req, res, null, { ...formValues(input), slug: input.slug }, formFailure(error));
    }
  });

  router.get('/apps/:slug', async (req, res) => {
    const app = await getApp(kit.context(req), String(req.params.slug));
    await renderForm(req, res, app, storedValues(app));
  });

  router.post('/apps/:slug', formBody, kit.csrf.check, async (req, res) => {
    const app = await getApp(kit.context(req), String(req.params.slug));
    const input = appInput(bodyOf(req), null);
    try {
      await updateApp(kit.context(req), app.slug, input);
      setFlash(req, `Saved ${input.name || app.name}.`);
      res.redirect(303, `/admin/apps/${encodeURIComponent(app.slug)}`);
    } catch (error) {
      await renderForm(req, res, app, formValues(input), formFailure(error));
    }
  });

  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    router.post(`/apps/:slug/${action}`, formBody, kit.csrf.check, async (req, res) => {
      const app = await setAppDisabled(kit.context(req), String(req.params.slug), disabled);
      setFlash(
        req,
        disabled
          ? `Disabled ${app.name}: nobody can sign in to it or see it, and its bot is silent.`
          : `Enabled ${app.name}.`,
      );
      res.redirect(303, `/admin/apps/${encodeURIComponent(app.slug)}`);
    });
  }

  router.post('/apps/:slug/rotate-secret', formBody, kit.csrf.check, async (req, res) => {
    const app = await getApp(kit.context(req), String(req.params.slug));
    const { clientSecret } = await rotateClientSecret(kit.context(req), app.slug);
    renderSecrets(req, res, app, { clientSecret }, `New client secret for ${app.name}`);
  });

  router.post('/apps/:slug/rotate-callback-secret', formBody, kit.csrf.check, async (req, res) => {
    const app = await getApp(kit.context(req), String(req.params.slug));
    const { callbackSecret } = await rotateCallbackSecret(kit.context(req), app.slug, secrets);
    renderSecrets(req, res, app, { callbackSecret }, `New callback secret for ${app.name}`);
  });

  router.post('/apps/:slug/delete', formBody, kit.csrf.check, async (req, res) => {
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
