import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
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
 * answer also tells `standing` whether the gateway still knows the domain (domain-standing.ts).
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

  async function fetchPage() {
    // `apps=1`: this node takes the entries of changed apps too (ended-access.ts).
    const path = `${PATH}?after=${cursor}&apps=1`;
    const response = await fetch(await signedGatewayRequest(options, 'GET', path));
    if (!response.ok) {
      const code = await errorCodeOf(response);
      if (code === 'unknown_origin') options.standing.heard(false);
      throw new AppError(
        'gateway_unavailable',
        503,
        `The gateway refused the ended-sessions request (HTTP ${response.status}${code ? ` ${code}` : ''})`,
      );
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
      .catch((err) =>
        options.logger.warn({ err }, 'fetching the ended sessions from the gateway failed; retrying later'),
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

/** The `code` of a JSON error body (`{"error":{"code":…}}`), if the answer is one. */
async function errorCodeOf(response: Response): Promise<string | undefined> {
  const body = (await response.json().catch(() => undefined)) as { error?: { code?: unknown } } | undefined;
  return typeof body?.error?.code === 'string' ? body.error.code : undefined;
}
