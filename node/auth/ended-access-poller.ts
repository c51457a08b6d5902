import { z } from 'zod';
import { lastingWarnings } from '../../core/lasting-warnings.ts';
import type { Logger } from '../../core/logger.ts';
import { gatewayAnswered, gatewayRefusal, warnGatewayFailure } from '../../protocol/gateway-refusal.ts';
import { signedGatewayRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';
import type { DomainStanding } from './domain-standing.ts';
import { endedEntrySchema, type EndedAccess } from './ended-access.ts';

const PATH = '/federation/v1/ended-access';
const pageSchema = z.object({
  entries: z.array(endedEntrySchema),
  cursor: z.number().int().nonnegative(),
  more: z.boolean(),
});

/**
 * Fetches the ended sessions and people from the gateway (a signed request), from the start when the
 * process starts and then every `intervalMs` from where it left off. The gateway also pushes each entry
 * at once (back-channel logout); this is how a node that was down or unreachable then learns it. Its
 * answer also tells `standing` whether the gateway still knows the domain (domain-standing.ts). A failure
 * is said at `warn` as it begins (with what to do, for a key the gateway has not pinned) and every few
 * minutes while it lasts, not at every poll (lasting-warnings.ts).
 */
export function createEndedAccessPoller(options: {
  gatewayIssuer: string;
  origin: string;
  signingKey: () => Promise<PrivateKeyJwk>;
  ended: EndedAccess;
  standing: DomainStanding;
  intervalMs: number;
  logger: Logger;
}) {
  let cursor = 0;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const warnings = lastingWarnings(options.logger);
  const unit = { kind: 'node', origin: options.origin } as const;

  async function fetchPage() {
    // `apps=1`: this node takes the entries of changed apps too (ended-access.ts).
    const path = `${PATH}?after=${cursor}&apps=1`;
    const response = await fetch(await signedGatewayRequest(options, 'GET', path));
    if (!response.ok) {
      const refusal = await gatewayRefusal(response, 'gateway_unavailable', 'ended-sessions', unit);
      if (refusal.gatewayCode === 'unknown_origin') options.standing.heard(false);
      throw refusal;
    }
    options.standing.heard(true);
    return pageSchema.parse(await response.json());
  }

  async function catchUp(): Promise<void> {
    for (;;) {
      const page = await fetchPage();
      await options.ended.record(page.entries);
      cursor = page.cursor;
      if (!page.more) return;
    }
  }

  function poll(): Promise<void> {
    running ??= catchUp()
      .then(
        () => gatewayAnswered(warnings, 'ended-access', 'The gateway answers the ended-sessions requests again'),
        (err: unknown) => warnGatewayFailure(warnings, 'ended-access', err, { request: 'ended-sessions' }),
      )
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  return {
    start(): void {
      void poll();
      timer = setInterval(() => {
        void poll();
        void options.ended.prune().catch((err) => options.logger.warn({ err }, 'pruning ended sessions failed'));
      }, options.intervalMs);
      timer.unref();
    },
    poll,
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
