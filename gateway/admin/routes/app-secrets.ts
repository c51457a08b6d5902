import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import type { Sealer } from '../../../core/seal.ts';
import { DEFAULT_GRACE_SECONDS } from '../../apps-registry/grace.ts';
import { botAddresses } from '../../apps-registry/bot-addresses.ts';
import { getApp } from '../../apps-registry/list-apps.ts';
import type { PresentedApp } from '../../apps-registry/present-app.ts';
import { rotateCallbackSecret, rotateClientSecret } from '../../apps-registry/rotate-secrets.ts';
import { NotUnderstoodError } from '../../factors/errors.ts';
import { keepForPage, takeForPage } from '../after-redirect.ts';
import { bodyOf, formBody, text } from '../form-input.ts';
import type { ConsoleKit } from '../kit.ts';

/** The sealers of the Apps pages: apps' callback secrets at rest, and new secrets on their way to the page. */
export type AppSealers = { callbackSecrets: Sealer; shownSecrets: Sealer };

const shownSchema = z.object({
  kind: z.enum(['registered', 'client', 'callback']),
  clientSecret: z.string().optional(),
  callbackSecret: z.string().optional(),
  /** A new app's slug made from its name was taken: the one wanted, and why (register-app.ts). */
  slugTaken: z.object({ slug: z.string(), reason: z.string() }).optional(),
  /** Until when the secret just replaced keeps working (ISO 8601); null when it stopped at once. */
  previousUntil: z.string().nullable().optional(),
  /** A rotation within another's grace kept it: the secret shown at that rotation stopped at once. */
  graceKept: z.boolean().optional(),
});
type Shown = z.infer<typeof shownSchema>;

const secretsPath = (slug: string) => `/admin/apps/${encodeURIComponent(slug)}/secrets`;

/**
 * After registering an app or making it a new secret, the browser is sent to the page that shows the new
 * secrets, which wait for it sealed in the administrator's session; that page hands them out once. So a
 * reload neither repeats the action (a second app, a secret rotated again under the one just copied) nor
 * shows the secrets again, and no secret is ever in a URL, a log line or the session store in clear.
 */
export function showSecretsOnce(req: Request, res: Response, sealer: Sealer, slug: string, shown: Shown): void {
  keepForPage(req, secretsPath(slug), sealer.seal(JSON.stringify(shown)));
  res.redirect(303, secretsPath(slug));
}

function takeShown(req: Request, sealer: Sealer, slug: string): Shown | null {
  const kept = takeForPage(req, secretsPath(slug));
  if (typeof kept !== 'string') return null;
  try {
    return shownSchema.parse(JSON.parse(sealer.open(kept)));
  } catch {
    // Sealed under a secret key that has changed since: nothing can be shown.
    return null;
  }
}

function heading(kind: Shown['kind'] | null, name: string): string {
  if (kind === 'registered') return `Registered ${name}`;
  if (kind === 'client') return `New client secret for ${name}`;
  if (kind === 'callback') return `New callback secret for ${name}`;
  return `Secrets of ${name}`;
}

/** The buttons of an app's page pressed without their "I understand" box ticked: what to say beside each. */
export type Unticked = { disable?: string; rotate?: string; rotateCallback?: string };

/** Shows the app's page again, with what was not done said beside the button pressed (routes/apps.ts). */
type RefuseUnticked = (req: Request, res: Response, app: PresentedApp, unticked: Unticked) => Promise<void>;

/**
 * A new secret ends the old one, at once or after a grace, and with it the live app unless it is given the
 * new one by then: so only with the box beside the button ticked. The app is read first, so an unknown one is "not found" either way.
 */
async function understood(
  req: Request,
  res: Response,
  kit: ConsoleKit,
  which: 'rotate' | 'rotateCallback',
  refuse: RefuseUnticked,
): Promise<string | null> {
  const app = await getApp(kit.context(req), String(req.params.slug));
  if (text(bodyOf(req), 'understood') === 'yes') return app.slug;
  const what = which === 'rotate' ? 'client' : 'callback';
  const refusal = new NotUnderstoodError(`make ${app.name} a new ${what} secret`, 'The secret was not changed.');
  await refuse(req, res, app, { [which]: refusal.message });
  return null;
}

/**
 * Which of the two ways of a rotation was chosen: the old secret keeps working for a day beside the new one
 * (what a planned rotation wants, and what a form without the choice gets), or stops at once (a leak).
 */
function graceChosen(req: Request): number {
  return text(bodyOf(req), 'when') === 'now' ? 0 : DEFAULT_GRACE_SECONDS;
}

/** The two "new secret" buttons of an app's page, and the page that shows what they (or registering) made. */
export function appSecretRoutes(router: Router, kit: ConsoleKit, sealers: AppSealers, refuse: RefuseUnticked): void {
  router.get('/apps/:slug/secrets', async (req, res) => {
    const app = await getApp(kit.context(req), String(req.params.slug));
    const shown = takeShown(req, sealers.shownSecrets, app.slug);
    const title = heading(shown?.kind ?? null, app.name);
    const previousUntil = shown?.previousUntil ?? null;
    const endedAtOnce = (shown?.kind === 'client' || shown?.kind === 'callback') && !previousUntil;
    kit.render(req, res, 'app-secrets', {
      title,
      section: 'apps',
      heading: title,
      app,
      shown,
      previousUntil,
      endedAtOnce,
      botAddresses: app.botEnabled ? await botAddresses(kit.context(req), app) : [],
    });
  });

  router.post('/apps/:slug/rotate-secret', formBody, kit.csrf.check, async (req, res) => {
    const app = await understood(req, res, kit, 'rotate', refuse);
    if (app === null) return;
    const options = { graceSeconds: graceChosen(req) };
    const { slug, clientSecret, previousSecretWorksUntil, graceKept } = await rotateClientSecret(
      kit.context(req),
      app,
      options,
    );
    const shown = { kind: 'client', clientSecret, previousUntil: previousSecretWorksUntil, graceKept } as const;
    showSecretsOnce(req, res, sealers.shownSecrets, slug, shown);
  });

  router.post('/apps/:slug/rotate-callback-secret', formBody, kit.csrf.check, async (req, res) => {
    const app = await understood(req, res, kit, 'rotateCallback', refuse);
    if (app === null) return;
    const options = { graceSeconds: graceChosen(req) };
    const rotated = await rotateCallbackSecret(kit.context(req), app, sealers.callbackSecrets, options);
    const { slug, callbackSecret, previousSecretWorksUntil, graceKept } = rotated;
    const shown = { kind: 'callback', callbackSecret, previousUntil: previousSecretWorksUntil, graceKept } as const;
    showSecretsOnce(req, res, sealers.shownSecrets, slug, shown);
  });
}
