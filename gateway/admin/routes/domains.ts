import { Router, type Request, type Response } from 'express';
import { NotFoundError } from '../../../core/errors.ts';
import { unitTree } from '../../accounts/unit-tree.ts';
import { addDomain, listDomains, updateDomain, type PresentedDomain } from '../../domains/domains.ts';
import { bodyOf, formBody, formFailure, list, text, type FormFailure } from '../form-input.ts';
import { fullAdminOnly, type ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';

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
    failure?: FormFailure,
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
      },
      failure?.status,
    );
  }

  router.get('/domains', async (req, res) => {
    kit.render(req, res, 'domains', {
      title: 'Domains',
      section: 'domains',
      domains: await listDomains(kit.context(req)),
    });
  });

  router.get('/domains/new', async (req, res) => {
    await renderForm(req, res, null, { units: [] });
  });

  router.post('/domains', formBody, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    const input = { name: text(body, 'name'), url: text(body, 'url'), units: list(body, 'units') };
    try {
      const domain = await addDomain(kit.context(req), input);
      setFlash(req, `Added domain ${domain.name}.`);
      res.redirect(303, '/admin/domains');
    } catch (error) {
      await renderForm(req, res, null, input, formFailure(error));
    }
  });

  router.get('/domains/:name', async (req, res) => {
    const domain = await findDomain(req, String(req.params.name));
    await renderForm(req, res, domain, { url: domain.url, units: domain.units });
  });

  router.post('/domains/:name', formBody, kit.csrf.check, async (req, res) => {
    const domain = await findDomain(req, String(req.params.name));
    const body = bodyOf(req);
    const input = { url: text(body, 'url'), units: list(body, 'units') };
    try {
      await updateDomain(kit.context(req), domain.name, input);
      setFlash(req, `Saved domain ${domain.name}.`);
      res.redirect(303, `/admin/domains/${encodeURIComponent(domain.name)}`);
    } catch (error) {
      await renderForm(req, res, domain, input, formFailure(error));
    }
  });

  return router;
}
