import { readFileSync } from 'node:fs';
import { Client, InvalidCredentialsError } from 'ldapts';
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
    throw new DirectoryUnavailableError(
      endpoint.name,
      `cannot read the CA file ${endpoint.caFile}: ${(error as Error).message}`,
    );
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
  try {
    if (endpoint.settings.startTls)
      await client.startTLS({
        ...tlsOptions,
        host: new URL(endpoint.url).hostname,
        servername: new URL(endpoint.url).hostname,
      });
    await client.bind(endpoint.bindDn, endpoint.bindPassword);
    return client;
  } catch (error) {
    await closeQuietly(client);
    if (error instanceof InvalidCredentialsError)
      throw new DirectoryUnavailableError(
        endpoint.name,
        'the directory refused the service account (bind DN or password wrong)',
      );
    throw unavailable(endpoint.name, error);
  }
}

/** Any failure talking to the directory, as the one error the gateway shows for it. */
export function unavailable(name: string, error: unknown): DirectoryUnavailableError {
  if (error instanceof DirectoryUnavailableError) return error;
  const e = error as Error & { code?: unknown };
  const cause = e?.message ? `${e.constructor?.name ?? 'Error'}: ${e.message}` : String(error);
  return new DirectoryUnavailableError(name, cause);
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
    throw error instanceof AppError ? error : unavailable(endpoint.name, error);
  } finally {
    await closeQuietly(client);
  }
}
