import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { Agent, buildConnector } from 'undici';
import { AppCallRefusedError, refusedRange, type AppCallPolicy } from './app-call-policy.ts';

/**
 * A host name is resolved when the connection is made, and only its addresses that the policy allows are
 * connected to: a name that pointed at a campus address when the app was registered and resolves to
 * this machine, or to a metadata service, now is refused, not called.
 */
function guardedLookup(policy: AppCallPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const allowed = addresses.filter((a) => refusedRange(a.address, policy) === null);
      const first = allowed[0];
      if (!first) {
        const refused = addresses[0];
        if (!refused)
          return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
        return callback(
          new AppCallRefusedError(hostname, refused.address, refusedRange(refused.address, policy)!),
          '',
          0,
        );
      }
      if (options.all) return callback(null, allowed);
      return callback(null, first.address, first.family);
    });
  };
}

/** Connects as undici does, but never to a refused address: a literal one is refused here, as it is not looked up. */
function guardedConnector(undici: typeof import('undici'), policy: AppCallPolicy): buildConnector.connector {
  const connect = undici.buildConnector({ lookup: guardedLookup(policy) });
  return (options, callback) => {
    const range = isIP(options.hostname) ? refusedRange(options.hostname, policy) : null;
    if (range) return callback(new AppCallRefusedError(options.hostname, options.hostname, range), null);
    connect(options, callback);
  };
}

/** One connection pool per policy for the life of the process (a process has one policy, tests two). */
const agents = new Map<boolean, Promise<Agent>>();

/** undici is loaded at the first app call: a process that calls no app does not load it. */
function agentFor(policy: AppCallPolicy): Promise<Agent> {
  let agent = agents.get(policy.loopback);
  if (!agent) {
    agent = import('undici').then((undici) => new undici.Agent({ connect: guardedConnector(undici, policy) }));
    agents.set(policy.loopback, agent);
  }
  return agent;
}

/**
 * fetch for a URL an administrator registered for an app: the connection goes only to an address the
 * policy allows (core/app-call-policy.ts), checked when it is made. A refused call rejects with
 * AppCallRefusedError, at once, having sent nothing; every other failure is fetch's own.
 */
export async function fetchAppUrl(
  url: string | URL | Request,
  init: RequestInit,
  policy: AppCallPolicy,
): Promise<Response> {
  try {
    // undici's Agent is the dispatcher Node's own fetch is built on (the same major version).
    return await fetch(url, { ...init, dispatcher: await agentFor(policy) } as RequestInit);
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    throw cause instanceof AppCallRefusedError ? cause : error;
  }
}
