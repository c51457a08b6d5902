import type { Clock, ClockTimer } from '../core/clock.ts';
import type { RegistryClient } from '../protocol/registry-client.ts';
import { registrationAtGateway, type Registration } from './registration.ts';

/**
 * How long a probe waits for the gateway's answer (a Kubernetes probe gives up after 1 s by default); a
 * slower answer is kept for the probes after it, and this one is answered from what was known before.
 */
export const READY_WAIT_MS = 1_000;

export type Readiness = { ready: true } | { ready: false; reason: string };

/** The refusals that say the gateway does not take this proxy's key: no proxy of its name, or another key. */
const NOT_REGISTERED = new Set(['unknown_origin', 'unknown_key']);

/**
 * Whether the proxy is ready (its /readyz): whether the gateway takes its key, asked (registrationAtGateway)
 * at most every `recheckMs` however often it is probed, so that many replicas probed every few seconds
 * do not load the gateway, while a registration, a removal or another key registered for the name shows
 * within that time without a restart. The node's rule for its domain (node/auth/domain-standing.ts):
 * only the gateway's refusal of the proxy's key makes it not ready, and that lasts until the gateway
 * takes the key again; a gateway that cannot be reached, or fails itself (5xx), says nothing of it, and
 * a proxy that holds the registry stays ready through that outage (an outage must not take every proxy
 * out of service). Without a copy of the registry it is not ready until the gateway gives it one.
 */
export function registrationReadiness(options: {
  registry: RegistryClient;
  gatewayIssuer: string;
  name: string;
  kid: string;
  recheckMs: number;
  clock: Clock;
}): { ready(): Promise<Readiness> } {
  const { registry, clock } = options;
  /** Why the gateway does not take this proxy's key, as it last said; undefined since it last took it. */
  let refused: string | undefined;
  /** Why no registry could be had, as last heard, while there is no copy. */
  let unavailable: string | undefined;
  let askedAt = Number.NEGATIVE_INFINITY;
  let asking: Promise<void> | undefined;

  function heard(registration: Registration): void {
    if (registration.registered) [refused, unavailable] = [undefined, undefined];
    else if (registration.registered === false && NOT_REGISTERED.has(registration.code ?? ''))
      refused = refusalSaid(options, registration.code, registry.cached() !== undefined);
    else unavailable = registration.said;
  }

  function ask(): Promise<void> {
    askedAt = clock.now();
    asking ??= registrationAtGateway(registry, options.gatewayIssuer)
      .then(heard)
      .finally(() => {
        asking = undefined;
      });
    return asking;
  }

  function known(): Readiness {
    if (refused) return { ready: false, reason: refused };
    if (registry.cached()) return { ready: true };
    const notYet = `The gateway (${options.gatewayIssuer}) has not answered within ${READY_WAIT_MS / 1000} s whether it has proxy "${options.name}" registered; asking on`;
    return { ready: false, reason: unavailable ?? notYet };
  }

  return {
    async ready() {
      const pending = asking ?? (clock.now() - askedAt >= options.recheckMs ? ask() : undefined);
      if (pending) await within(pending, READY_WAIT_MS, clock);
      return known();
    },
  };
}

/** Why the gateway does not take the proxy's key (`code`), and what to do; `held`: it took it before. */
function refusalSaid(
  proxy: { gatewayIssuer: string; name: string; kid: string },
  code: string | undefined,
  held: boolean,
) {
  const { gatewayIssuer, name, kid } = proxy;
  const register = `\`atrium proxies add ${name} --key …\` with the key the proxy printed at start`;
  if (code === 'unknown_key')
    return `The gateway (${gatewayIssuer}) has proxy "${name}" registered with another key than this one, ${kid} (HTTP 401 unknown_key): run every copy of the proxy with the registered key (ATRIUM_DATA_DIR or PROXY_PRIVATE_KEY), or register this one: ${register}`;
  if (held)
    return `The gateway (${gatewayIssuer}) has no proxy "${name}" registered any more (HTTP 401 unknown_origin): it was removed there, so the registry this proxy forwards by is no longer renewed; to serve again, register it: ${register}`;
  return `The gateway (${gatewayIssuer}) has no proxy "${name}" registered (HTTP 401 unknown_origin): register it once: ${register}`;
}

/** Waits for `pending`, or `ms` by `clock` if that is sooner; `pending` carries on either way. */
async function within(pending: Promise<void>, ms: number, clock: Clock): Promise<void> {
  let timer: ClockTimer | undefined;
  const late = new Promise<void>((resolve) => {
    timer = clock.setTimeout(resolve, ms).unref();
  });
  try {
    await Promise.race([pending, late]);
  } finally {
    clock.clearTimeout(timer);
  }
}
