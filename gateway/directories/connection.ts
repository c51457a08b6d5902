import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import {
  Client,
  type Control,
  type DN,
  InvalidCredentialsError,
  NoSuchObjectError,
  ResultCodeError,
  type SearchOptions,
  type SearchResult,
  SizeLimitExceededError,
} from 'ldapts';
import { AppError } from '../../core/errors.ts';
import type { Sealer } from '../../core/seal.ts';
import type { Directory } from '../models/directories.ts';
import { DirectoryUnavailableError, SERVICE_ACCOUNT_REFUSED } from './errors.ts';
import { PAGE_SIZE } from './presets.ts';
import { directorySettingsOf } from './settings.ts';
import type { DirectorySettings } from './schemas.ts';

/** What it takes to reach a directory as the gateway's service account. */
export type DirectoryEndpoint = {
  name: string;
  url: string;
  caFile: string | null;
  bindDn: string;
  bindPassword: string;
  settings: DirectorySettings;
};

export function endpointOf(directory: Directory, sealer: Sealer): DirectoryEndpoint {
  return {
    name: directory.name,
    url: directory.url,
    caFile: directory.caFile,
    bindDn: directory.bindDn,
    bindPassword: sealer.open(directory.bindPasswordSealed),
    settings: directorySettingsOf(directory),
  };
}

/**
 * A connection to the directory, over TLS (ldaps://, or StartTLS on ldap://) with the registration's CA
 * if it has one, bound as the service account. Every operation has a deadline, so a directory that
 * stops answering fails the call instead of holding it. Anything that goes wrong here is the
 * directory's trouble, not the person's: DirectoryUnavailableError. The caller unbinds.
 */
export async function openDirectory(endpoint: DirectoryEndpoint): Promise<Client> {
  const timeout = endpoint.settings.timeoutSeconds * 1000;
  let tlsOptions: { ca?: Buffer; servername?: string; minVersion: 'TLSv1.2' };
  try {
    tlsOptions = { minVersion: 'TLSv1.2', ...(endpoint.caFile ? { ca: readFileSync(endpoint.caFile) } : {}) };
  } catch (error) {
    const cause = `cannot read the CA file ${endpoint.caFile}: ${(error as Error).message}`;
    // Registered before relative paths were refused (check-registration.ts): each process reads it from its
    // own working directory, which is seldom where it was typed.
    const relative = isAbsolute(endpoint.caFile!)
      ? ''
      : ` (a relative path, so it was looked for in ${process.cwd()}): give its absolute path as the CA file (--ca-file)`;
    throw new DirectoryUnavailableError(endpoint.name, cause, `${cause}${relative}`);
  }
  // ldapts speaks TLS from the first byte whenever it is given TLS options, so an ldap:// URL gets them
  // only through startTLS below.
  const ldaps = endpoint.url.startsWith('ldaps://');
  const client = new DirectoryClient({
    url: endpoint.url,
    timeout,
    connectTimeout: timeout,
    strictDN: false,
    ...(ldaps ? { tlsOptions } : {}),
  });
  let step: Step = 'starttls';
  try {
    if (endpoint.settings.startTls) {
      const host = new URL(endpoint.url).hostname.replace(/^\[(.*)\]$/, '$1');
      // SNI names hosts only (RFC 6066); Node warns (DEP0123) of an IP address given as the server name.
      await client.startTLS({ ...tlsOptions, host, ...(isIP(host) ? {} : { servername: host }) });
    }
    step = 'bind';
    await client.bind(endpoint.bindDn, endpoint.bindPassword);
    return client;
  } catch (error) {
    await closeQuietly(client);
    throw unavailable(endpoint.name, error, endpoint, step);
  }
}

/**
 * ldapts' client, but a paged search that the directory stops with sizeLimitExceeded says how many entries
 * the directory lets the service account read (`entriesAllowed`), so that plainProblem can tell IT the
 * number its limit is set to. The gateway reads in pages already; OpenLDAP caps the total of a paged search
 * too (size.prtotal, by default its hard size limit, 500 unless configured).
 */
class DirectoryClient extends Client {
  override async *searchPaginated(
    baseDN: DN | string,
    options: SearchOptions = {},
    controls?: Control | Control[],
  ): AsyncGenerator<SearchResult> {
    try {
      yield* super.searchPaginated(baseDN, options, controls);
    } catch (error) {
      if (error instanceof SizeLimitExceededError)
        Object.assign(error, { entriesAllowed: await this.#entriesAllowed(baseDN, options) });
      throw error;
    }
  }

  /**
   * The same search for names only, asking for more entries than any directory holds: a server stopped by
   * its own limit then answers with what it allows, which ldapts returns instead of throwing. Null when
   * even that fails.
   */
  async #entriesAllowed(baseDN: DN | string, options: SearchOptions): Promise<number | null> {
    let entries = 0;
    try {
      for await (const page of super.searchPaginated(baseDN, {
        scope: options.scope,
        filter: options.filter,
        attributes: ['1.1'],
        sizeLimit: 2 ** 31 - 1,
        paged: { pageSize: PAGE_SIZE },
      }))
        entries += page.searchEntries.length;
      return entries;
    } catch {
      return null;
    }
  }
}

/** How far openDirectory got: the same library error means another thing at each step. */
type Step = 'starttls' | 'bind' | 'work';
/** What is known of where the failure happened: the URL is absent deep inside a sync. */
type Where = {
  url?: string;
  bindDn?: string;
  settings: Pick<DirectorySettings, 'timeoutSeconds' | 'userBase'>;
};

/**
 * Any failure talking to the directory, as the one error the gateway shows for it. The raw cause is kept
 * for IT's logs; the common ones are also said in plain words with what to change (`problem`).
 */
export function unavailable(
  name: string,
  error: unknown,
  where?: Where,
  step: Step = 'work',
): DirectoryUnavailableError {
  if (error instanceof DirectoryUnavailableError) return error;
  const e = error as Error & { code?: unknown };
  const cause = e?.message ? `${e.constructor?.name ?? 'Error'}: ${e.message}` : String(error);
  return new DirectoryUnavailableError(name, cause, plainProblem(error, where, step));
}

/** Node's codes for a certificate chain that does not lead to a CA the gateway trusts. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

function plainProblem(error: unknown, where: Where | undefined, step: Step): string | null {
  return networkProblem(error, where) ?? tlsProblem(error, where, step) ?? ldapProblem(error, where, step);
}

/** Where the directory is, as a problem names it: its host, and host:port (the URL's, or LDAP's default). */
function placeOf(error: unknown, where: Where | undefined) {
  const e = (error ?? {}) as { hostname?: unknown };
  const url = where?.url ? URL.parse(where.url) : null;
  return {
    url,
    host: url?.hostname ?? (typeof e.hostname === 'string' ? e.hostname : 'the host'),
    at: url ? `${url.hostname}:${url.port || (url.protocol === 'ldaps:' ? 636 : 389)}` : 'its address',
  };
}

function networkProblem(error: unknown, where: Where | undefined): string | null {
  const e = (error ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : null;
  const message = typeof e.message === 'string' ? e.message : '';
  const { url, host, at } = placeOf(error, where);
  if (code === 'ECONNREFUSED')
    return `nothing listens at ${at}: check the host and port in the URL, and that the directory server is running`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `the host name ${host} cannot be found (DNS has no address for it): check the host in the URL`;
  if (code === 'ETIMEDOUT' || /^Connection timeout$|Operation timed out/.test(message))
    return (
      `the directory at ${at} did not answer ${where ? `within ${where.settings.timeoutSeconds} s` : 'in time'}: check that it is ` +
      'running and that no firewall drops the traffic in between'
    );
  // Node's words when the peer hangs up on a TLS hello: a plain LDAP port does so (slapd, AD alike).
  if (url?.protocol === 'ldaps:' && /before secure TLS connection was established/.test(message))
    return (
      `the directory at ${at} closed the connection when the gateway began TLS: that port does not speak TLS from ` +
      'the start. ldaps:// needs the LDAPS port (636 by default); for the plain LDAP port (389 by default) use ' +
      'ldap://, which the gateway upgrades with StartTLS'
    );
  return null;
}

function tlsProblem(error: unknown, where: Where | undefined, step: Step): string | null {
  const e = (error ?? {}) as { code?: unknown; message?: unknown; cert?: { subjectaltname?: string } };
  const code = typeof e.code === 'string' ? e.code : null;
  const message = typeof e.message === 'string' ? e.message : '';
  const { host, at } = placeOf(error, where);
  if (code && UNTRUSTED.has(code))
    return (
      "the directory's TLS certificate is not signed by a CA the gateway trusts: give the PEM file of the CA " +
      'that signed it as the CA file (--ca-file)'
    );
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return (
      `the directory's TLS certificate is not made out to ${host}` +
      `${e.cert?.subjectaltname ? ` (it names ${e.cert.subjectaltname})` : ''}: use a host name the certificate names in the URL`
    );
  if (code === 'CERT_HAS_EXPIRED')
    return "the directory's TLS certificate has expired: its administrators must renew it";
  if (step === 'starttls' && error instanceof ResultCodeError)
    return (
      `the directory at ${at} does not offer StartTLS: use an ldaps:// URL, or turn StartTLS off ` +
      '(--starttls no) only for a directory on this machine'
    );
  // A port that speaks TLS from the first byte reads the StartTLS request as a broken TLS hello and hangs up.
  if (step === 'starttls' && /^Connection closed before message response/.test(message))
    return (
      `the directory at ${at} closed the connection when asked for StartTLS: that port may expect TLS from the ` +
      'start (an LDAPS port, 636 by default). Use ldaps:// for that port, or ldap:// with the plain LDAP port ' +
      '(389 by default)'
    );
  return null;
}

function ldapProblem(error: unknown, where: Where | undefined, step: Step): string | null {
  if (step === 'bind' && error instanceof InvalidCredentialsError)
    return `${SERVICE_ACCOUNT_REFUSED}: the service account's DN or password is wrong`;
  if (step === 'work' && error instanceof NoSuchObjectError && where)
    return `the directory has no entry ${where.settings.userBase}: check the user base`;
  if (error instanceof SizeLimitExceededError) {
    const allowed = (error as { entriesAllowed?: unknown }).entriesAllowed;
    const stops = typeof allowed === 'number' ? `at ${allowed} entries` : 'before the end';
    return (
      `the directory's size limit for the service account stops reading ${stops}, although the gateway asks for ` +
      `paged results (pages of ${PAGE_SIZE.toLocaleString('en')}): raise the limit for ${where?.bindDn ?? 'that account'} ` +
      `(OpenLDAP: limits dn.exact="${where?.bindDn ?? '<its DN>'}" size.prtotal=unlimited, or size=unlimited, in the database's configuration)`
    );
  }
  return null;
}

export async function closeQuietly(client: Client): Promise<void> {
  await client.unbind().catch(() => undefined);
}

/**
 * Opens the directory, runs `work` over the connection and closes it whatever happens. A failure on the
 * way is the directory's (DirectoryUnavailableError); an AppError the work throws on purpose goes through.
 */
export async function withDirectory<T>(endpoint: DirectoryEndpoint, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await openDirectory(endpoint);
  try {
    return await work(client);
  } catch (error) {
    throw error instanceof AppError ? error : unavailable(endpoint.name, error, endpoint);
  } finally {
    await closeQuietly(client);
  }
}
