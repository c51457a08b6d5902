import { Router, type Request, type Response } from 'express';
import { ROLES } from '../../models/index.ts';
import { dropSecondFactorRequirement, listRequirements, requireSecondFactor } from '../../factors/policy.ts';
import { unitTree } from '../../accounts/unit-tree.ts';
import { bodyOf, formBody, formFailure, text, type FormFailure } from '../form-input.ts';
import { fullAdminOnly, type ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';
import { passwordlessAllowed, setPasswordless } from '../../factors/passkeys/passwordless-policy.ts';

/** The second-factor policy (whom a factor is required of), for full administrators: it covers everyone. */
export function secondFactorRoutes(kit: ConsoleKit): Router {
  const router = Router();

  async function render(req: Request, res: Response, failure?: FormFailure) {
    const ctx = kit.context(req);
    kit.render(
      req,
      res,
      'second-factor',
      {
        title: 'Second factor',
        section: 'second-factor',
        requirements: await listRequirements(ctx),
        passwordless: await passwordlessAllowed(ctx),
        roles: ROLES,
        units: await unitTree(ctx),
        notice: failure?.notice,
      },
      failure?.status,
    );
  }

  router.get('/second-factor', fullAdminOnly, (req, res) => render(req, res));

  router.post('/second-factor', fullAdminOnly, formBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const input = { kind: text(body, 'kind'), value: text(body, 'value') };
    try {
      const added = await requireSecondFactor(kit.context(req), input);
      setFlash(req, `A second factor is now required of ${added.kind} ${added.value}.`);
      res.redirect(303, '/admin/second-factor');
    } catch (error) {
      await render(req, res, formFailure(error));
    }
  });

  router.post('/second-factor/remove', fullAdminOnly, formBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    try {
      const dropped = await dropSecondFactorRequirement(kit.context(req), {
        kind: text(body, 'kind'),
        value: text(body, 'value'),
      });
      setFlash(req, `A second factor is no longer required of ${dropped.kind} ${dropped.value}.`);
      res.redirect(303, '/admin/second-factor');
    } catch (error) {
      await render(req, res, formFailure(error));
    }
  });

  router.post('/second-factor/passwordless', fullAdminOnly, formBody, kit.csrf.check, async (req, res) => {
    try {
      const on = await setPasswordless(kit.context(req), text(bodyOf(req), 'passwordless'));
      setFlash(
        req,
        on
          ? 'People may now sign in with a passkey alone.'
          : 'A passkey now serves only as the second factor after a password.',
      );
      res.redirect(303, '/admin/second-factor');
    } catch (error) {
      await render(req, res, formFailure(error));
    }
  });

  return router;
}
