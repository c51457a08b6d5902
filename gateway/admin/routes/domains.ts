import { Router, type Request, type Response } from 'express';
import { NotFoundError } from '../../../core/errors.ts';
import { unitTree } from '../../accounts/unit-tree.ts';
import { addDomain, listDomains, updateDomain, type PresentedDomain } from '../../domains/domains.ts';
import { HomeMoveError, type HomeMoves } from '../../domains/home-moves.ts';
import { removeDomain } from '../../domains/remove-domain.ts';
import { describeSharedUnit, sharedUnits } from '../../domains/shared-units.ts';
import { keepForPage, takeForPage } from '../after-redirect.ts';
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
import { fullAdminOnly, type ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';

/** What the page shows when a change would move people: the notice, and the confirmation box with the count. */
type Refusal = FormFailure & { moves?: HomeMoves };

function refusal(error: unknown): Refusal {
  if (error instanceof HomeMoveError) {
    const moved = new HomeMoveError(error.moves, 'tick "Move these people" and submit again to go ahead');
    return { ...formFailure(moved), moves: error.moves };
  }
  return formFailure(error);
}

const confirmed = (body: Body) => text(body, 'movePeople') === 'on';

const pagePath = (name: string) => `/admin/domains/${encodeURIComponent(name)}`;

const NEW_DOMAIN = { units: [], partner: false };
const storedValues = (domain: PresentedDomain) => ({
  url: domain.url,
  units: domain.units,
  partner: domain.units.length === 0,
});

/** IM domain nodes: which URL each answers at and which units it serves. Full administrators only. */
export function domainRoutes(kit: ConsoleKit): Router {
  const router = Router();
  router.use('/domains', fullAdminOnly);

  async function findDomain(req: Request, name: string): Promise<PresentedDomain> {
    const domain = (await listDomains(kit.context(req))).find((d) => d.name === name);
    if (!domain) throw new NotFoundError(`No domain ${name}`);
    return domain;
  }

  async function renderForm(
    req: Request,
    res: Response,
    domain: PresentedDomain | null,
    values: Record<string, unknown>,
    failure?: Refusal,
    removal?: Refusal,
  ) {
    kit.render(
      req,
      res,
      'domain-form',
      {
        title: domain ? `Domain ${domain.name}` : 'New domain',
        section: 'domains',
        domain,
        units: await unitTree(kit.context(req)),
        values,
        errors: failure?.errors ?? {},
        notice: failure?.notice,
        moves: failure?.moves,
        removal,
        shared: domain ? await sharedNotices(req, domain.name) : [],
      },
      failure?.status ?? removal?.status,
    );
  }

  /** Units served by two domains (from before that was refused), as sentences naming the domain that wins. */
  async function sharedNotices(req: Request, domainName?: string): Promise<string[]> {
    const shared = await sharedUnits(kit.context(req));
    return shared.filter((s) => !domainName || s.domains.includes(domainName)).map(describeSharedUnit);
  }

  router.get('/domains', async (req, res) => {
    kit.render(req, res, 'domains', {
      title: 'Domains',
      section: 'domains',
      domains: await listDomains(kit.context(req)),
      shared: await sharedNotices(req),
    });
  });

  router.get('/domains/new', async (req, res) => {
    await renderForm(req, res, null, NEW_DOMAIN);
  });

  // A post too large to read shows its form again, as it would open, with what to do: nothing was read.
  const addBody = typedFormBody((req, res) => renderForm(req, res, null, NEW_DOMAIN, tooLongFailure()));
  const editBody = typedFormBody(async (req, res) => {
    const domain = await findDomain(req, String(req.params.name));
    await renderForm(req, res, domain, storedValues(domain), tooLongFailure());
  });

  router.post('/domains', addBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const values = {
      name: text(body, 'name'),
      url: text(body, 'url'),
      units: list(body, 'units'),
      partner: text(body, 'partner') === 'on',
    };
    try {
      const input = {
        name: values.name,
        url: values.url,
        units: values.units,
        partner: values.partner,
        movePeople: confirmed(body),
      };
      const domain = await addDomain(kit.context(req), input);
      setFlash(req, `Added domain ${domain.name}.`);
      res.redirect(303, '/admin/domains');
    } catch (error) {
      await renderForm(req, res, null, values, refusal(error));
    }
  });

  router.get('/domains/:name', async (req, res) => {
    const domain = await findDomain(req, String(req.params.name));
    const removal = takeForPage(req, pagePath(domain.name)) as Refusal | undefined;
    await renderForm(req, res, domain, storedValues(domain), undefined, removal);
  });

  router.post('/domains/:name', editBody, kit.csrf.check, async (req, res) => {
    const domain = await findDomain(req, String(req.params.name));
    const body = bodyOf(req);
    const values = { url: text(body, 'url'), units: list(body, 'units'), partner: text(body, 'partner') === 'on' };
    try {
      const input = { url: values.url, units: values.units, partner: values.partner, movePeople: confirmed(body) };
      await updateDomain(kit.context(req), domain.name, input);
      setFlash(req, `Saved domain ${domain.name}.`);
      res.redirect(303, `/admin/domains/${encodeURIComponent(domain.name)}`);
    } catch (error) {
      await renderForm(req, res, domain, values, refusal(error));
    }
  });

  router.post('/domains/:name/remove', formBody, kit.csrf.check, async (req, res) => {
    const domain = await findDomain(req, String(req.params.name));
    try {
      const removed = await removeDomain(kit.context(req), domain.name, { movePeople: confirmed(bodyOf(req)) });
      const moved = removed.moved.people;
      setFlash(
        req,
        `Removed domain ${domain.name}${moved > 0 ? `; the IM home of ${moved} ${moved === 1 ? 'person' : 'people'} moved` : ''}.`,
      );
      res.redirect(303, '/admin/domains');
    } catch (error) {
      // Said on the domain's page after a redirect, so that a reload does not try the removal again.
      keepForPage(req, pagePath(domain.name), { ...refusal(error), status: 200 });
      res.redirect(303, `${pagePath(domain.name)}#remove-heading`);
    }
  });

  return router;
}
