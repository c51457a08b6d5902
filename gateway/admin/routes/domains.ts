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
import { mergeShown, shownIn, shownJson, staleFormFailure, type FormFields } from '../shown-form.ts';

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

/** A domain's form as posted: its URL, the units ticked, and whether it is a partner organization's. */
const domainValues = (body: Body) => ({
  url: text(body, 'url'),
  units: list(body, 'units'),
  partner: text(body, 'partner') === 'on',
});

const pagePath = (name: string) => `/admin/domains/${encodeURIComponent(name)}`;

const NEW_DOMAIN = { units: [], partner: false };
const storedValues = (domain: PresentedDomain) => ({
  url: domain.url,
  units: domain.units,
  partner: domain.units.length === 0,
});

/** The edit form's fields as its page sends them for the domain as stored, to carry and compare (shown-form.ts). */
const domainFields = (domain: PresentedDomain): FormFields => ({
  url: domain.url,
  units: domain.units,
  partner: domain.units.length === 0 ? 'on' : '',
});

/** How a refusal of a stale form names the domain and its fields (shown-form.ts). */
const staleWords = (domain: PresentedDomain) => ({
  what: `Domain ${domain.name}`,
  labels: { url: 'node URL', units: 'units it serves', partner: "partner organization's domain" },
  flags: ['partner'],
  errorKeys: { partner: 'units' },
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
    shown: Record<string, unknown> | null = null,
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
        shown: domain ? shownJson(shown ?? domainFields(domain)) : null,
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
    const values = { name: text(body, 'name'), ...domainValues(body) };
    try {
      const domain = await addDomain(kit.context(req), { ...values, movePeople: confirmed(body) });
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

  // Only what was changed on the page is saved: what someone else changed since stays (shown-form.ts).
  router.post('/domains/:name', editBody, kit.csrf.check, async (req, res) => {
    const domain = await findDomain(req, String(req.params.name));
    const body = bodyOf(req);
    const shown = shownIn(body);
    const merge = shown && mergeShown(body, shown, domainFields(domain));
    if (!merge || merge.conflicts.length > 0) {
      const failure = staleFormFailure(body, merge?.conflicts ?? null, staleWords(domain));
      return renderForm(req, res, domain, storedValues(domain), failure);
    }
    if (merge.changed.length === 0) {
      setFlash(req, `Nothing changed for domain ${domain.name}.`);
      return res.redirect(303, pagePath(domain.name));
    }
    try {
      await updateDomain(kit.context(req), domain.name, { ...domainValues(merge.body), movePeople: confirmed(body) });
      setFlash(req, `Saved domain ${domain.name}.`);
      res.redirect(303, pagePath(domain.name));
    } catch (error) {
      await renderForm(req, res, domain, domainValues(body), refusal(error), undefined, shown);
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
