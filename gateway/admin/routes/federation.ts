import { Router, type Request, type Response } from 'express';
import { isAppError, ValidationError } from '../../../core/errors.ts';
import type { GatewayContext } from '../../context.ts';
import { pinDomainKeys, pinnedKeysOf, unpinDomain } from '../../federation/pin-domain.ts';
import { allowPair, denyPair, listPolicy, removeProxy } from '../../federation/policy.ts';
import { bodyOf, formBody, formFailure, text, type FormFailure } from '../form-input.ts';
import { fullAdminOnly, type ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';
import { NotUnderstoodError } from '../../factors/errors.ts';

type Fields = { domain: string; a: string; b: string; name: string };

/** An unpin or a deny pressed without its "I understand" box ticked: the row it was pressed on, and what to say there. */
type Unticked = { action: 'unpin' | 'deny' | 'remove-proxy'; fields: Fields; message: string };

/**
 * Unpinning a domain, denying a pair and removing a proxy each cut messaging at once (and what the policy
 * refuses is never sent later), so they go ahead only with the box beside the button ticked.
 */
const CUTS: Record<Unticked['action'], (fields: Fields) => string> = {
  unpin: ({ domain }) => `unpin ${domain}`,
  deny: ({ a, b }) => `deny ${a} and ${b}`,
  'remove-proxy': ({ name }) => `remove proxy ${name}`,
};

function isCut(path: string): path is Unticked['action'] {
  return Object.hasOwn(CUTS, path);
}

/** What the page shows: each domain with its pinned key ids, the allowed pairs, the registered proxies. */
async function federationOverview(ctx: GatewayContext, unticked?: Unticked) {
  const { Domain, FederationProxy } = ctx.models;
  const [domains, policy, proxies] = await Promise.all([
    Domain.findAll({ order: [['name', 'ASC']] }),
    listPolicy(ctx),
    FederationProxy.findAll({ order: [['name', 'ASC']] }),
  ]);
  return {
    domains: domains.map((d) => ({
      name: d.name,
      url: d.url,
      kids: pinnedKeysOf(d).map((k) => k.kid),
      pinnedAt: d.pinnedAt,
      unticked: unticked?.action === 'unpin' && unticked.fields.domain === d.name ? unticked.message : null,
    })),
    policy: policy.map(([a, b]) => ({
      a,
      b,
      unticked:
        unticked?.action === 'deny' && [unticked.fields.a, unticked.fields.b].sort().join(' ') === `${a} ${b}`
          ? unticked.message
          : null,
    })),
    proxies: proxies.map((p) => ({
      name: p.name,
      kid: p.publicJwk ? (JSON.parse(p.publicJwk) as { kid: string }).kid : null,
      peerUrl: p.peerUrl,
      unticked: unticked?.action === 'remove-proxy' && unticked.fields.name === p.name ? unticked.message : null,
    })),
  };
}

/**
 * A refused one-button action, said in the notice the page shows after its redirect: the reason, and
 * the field messages where there are any (the buttons' fields are hidden, so nothing is shown beside them).
 */
function refusalText(error: unknown): string {
  // A node that does not answer is the operator's to fix, not a failure of the console.
  if (isAppError(error) && error.code === 'node_unreachable') return error.message;
  const { notice, errors } = formFailure(error);
  const fields = Object.values(errors);
  return fields.length > 0 ? `${notice}: ${fields.join('; ')}` : notice;
}

/**
 * Federation: which domain nodes' keys the gateway trusts (pins), which pairs of domains may exchange
 * messages, and the proxies that carry their traffic. Full administrators only, like Domains.
 */
export function federationRoutes(kit: ConsoleKit): Router {
  const router = Router();
  router.use('/federation', fullAdminOnly);

  async function renderPage(
    req: Request,
    res: Response,
    values: Record<string, string>,
    failure?: FormFailure,
    unticked?: Unticked,
  ) {
    const overview = await federationOverview(kit.context(req), unticked);
    kit.render(
      req,
      res,
      'federation',
      {
        title: 'Federation',
        section: 'federation',
        ...overview,
        values,
        errors: failure?.errors ?? {},
        notice: failure?.notice,
      },
      unticked ? 400 : failure?.status,
    );
  }

  /**
   * POST-redirect-GET. A refusal of the pair form is shown on the page again, beside the selects; a
   * refused button (pin, unpin, deny) is said after the redirect too, so that a reload does not try it
   * again (a node that was down may be up by then, and a pin is not for a reload to make).
   */
  function action(path: string, run: (req: Request, fields: Fields) => Promise<string>, refusedOnPage = false) {
    router.post(`/federation/${path}`, formBody, kit.csrf.check, async (req, res) => {
      const raw = bodyOf(req);
      const body: Fields = {
        domain: text(raw, 'domain'),
        a: text(raw, 'a'),
        b: text(raw, 'b'),
        name: text(raw, 'name'),
      };
      if (isCut(path) && text(raw, 'understood') !== 'yes') {
        const { message } = new NotUnderstoodError(CUTS[path](body), 'Nothing was changed.');
        return renderPage(req, res, {}, undefined, { action: path, fields: body, message });
      }
      try {
        setFlash(req, await run(req, body));
      } catch (error) {
        if (refusedOnPage) return renderPage(req, res, { a: body.a, b: body.b }, formFailure(error));
        setFlash(req, refusalText(error), 'error');
      }
      res.redirect(303, '/admin/federation');
    });
  }

  router.get('/federation', async (req, res) => {
    await renderPage(req, res, {});
  });

  action('pin', async (req, { domain }) => {
    const { keys, changed } = await pinDomainKeys(kit.context(req), domain);
    const kids = keys.map((k) => k.kid).join(', ');
    return changed
      ? `Pinned the keys of ${domain}: ${kids}.`
      : `${domain} serves the keys already pinned (${kids}); nothing changed.`;
  });
  action('unpin', async (req, { domain }) => {
    await unpinDomain(kit.context(req), domain);
    return `Unpinned ${domain}: nothing it signs is trusted until its keys are pinned again.`;
  });
  action(
    'allow',
    async (req, { a, b }) => {
      // The second box starts at "Choose a domain": a pair is two domains picked on purpose.
      if (!b) throw new ValidationError('Choose the domain to pair with', { b: 'choose a domain' });
      await allowPair(kit.context(req), { a, b });
      return `${a} and ${b} may now exchange messages.`;
    },
    true,
  );
  action('deny', async (req, { a, b }) => {
    await denyPair(kit.context(req), { a, b });
    return `${a} and ${b} may no longer exchange messages.`;
  });
  action('remove-proxy', async (req, { name }) => {
    await removeProxy(kit.context(req), name);
    return `Removed proxy ${name}: the gateway refuses it from its next request.`;
  });

  return router;
}
