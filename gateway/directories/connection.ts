import { readFileSync } from 'node:fs';
import { Client, InvalidCredentialsError, NoSuchObjectError, ResultCodeError } from 'ldapts';
import { AppError } from '../../core/errors.ts';
import type { Sealer } from '../../core/seal.ts';
import type { Directory } from '../models/directories.ts';
import { DirectoryUnavailableError } from './errors.ts';
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
    throw new DirectoryUnavailableError(endpoint.name, cause, cause);
  }
  // ldapts speaks TLS from the first byte whenever it is given TLS options, so an ldap:// URL gets them
  // only through startTLS below.
  const ldaps = endpoint.url.startsWith('ldaps://');
  const client = new Client({
    url: endpoint.url,
    timeout,
    connectTimeout: timeout,
    strictDN: false,
    ...(ldaps ? { tlsOptions } : {}),
  });
  let step: Step = 'starttls';
  try {
    if (endpoint.settings.startTls)
      await client.startTLS({
        ...tlsOptions,
        host: new URL(endpoint.url).hostname,
        servername: new URL(endpoint.url).hostname,
      });
    step = 'bind';
    await client.bind(endpoint.bindDn, endpoint.bindPassword);
    return client;
  } catch (error) {
    await closeQuietly(client);
    throw unavailable(endpoint.name, error, endpoint, step);
  }
}

/** How far openDirectory got: the same library error means another thing at each step. */
type Step = 'starttls' | 'bind' | 'work';
/** What is known of where the failure happened: the URL is absent deep inside a sync. */
type Where = { url?: string; settings: Pick<DirectorySettings, 'timeoutSeconds' | 'userBase'> };

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
  const e = (error ?? {}) as {
    code?: unknown;
    message?: unknown;
    hostname?: unknown;
    cert?: { subjectaltname?: string };
  };
  const code = typeof e.code === 'string' ? e.code : null;
  const message = typeof e.message === 'string' ? e.message : '';
  const url = where?.url ? URL.parse(where.url) : null;
  const host = url?.hostname ?? (typeof e.hostname === 'string' ? e.hostname : 'the host');
  const at = url ? `${url.hostname}:${url.port || (url.protocol === 'ldaps:' ? 636 : 389)}` : 'its address';
  if (code === 'ECONNREFUSED')
    return `nothing listens at ${at}: check the host and port in the URL, and that the directory server is running`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `the host name ${host} cannot be found (DNS has no address for it): check the host in the URL`;
  if (code === 'ETIMEDOUT' || /^Connection timeout$|Operation timed out/.test(message))
    return (
      `the directory at ${at} did not answer ${where ? `within ${where.settings.timeoutSeconds} s` : 'in time'}: check that it is ` +
      'running and that no firewall drops the traffic in between'
    );
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
  if (step === 'bind' && error instanceof InvalidCredentialsError)
    return "the directory refused the service account: the service account's DN or password is wrong";
  if (step === 'work' && error instanceof NoSuchObjectError && where)
    return `the directory has no entry ${where.settings.userBase}: check the user base`;
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
