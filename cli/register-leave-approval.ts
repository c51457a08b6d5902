import { readFile, writeFile, mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Sealer } from '../core/seal.ts';
import { loadClient } from '../gateway/apps-registry/client-metadata.ts';
import { registerApp } from '../gateway/apps-registry/register-app.ts';
import { rotateCallbackSecret, rotateClientSecret } from '../gateway/apps-registry/rotate-secrets.ts';
import { updateApp } from '../gateway/apps-registry/update-app.ts';
import type { GatewayContext } from '../gateway/context.ts';

export const SLUG = 'leave-approval';

export type Credentials = { clientId: string; clientSecret: string; callbackSecret: string };

/** How the demo registers the app: first-party, a bot, for students and staff of the whole campus. */
export function registration(publicUrl: string) {
  return {
    name: 'Leave Approval',
    slug: SLUG,
    icon: '🌴',
    description: 'Request leave; your approver decides from chat.',
    homeUrl: `${publicUrl}/`,
    redirectUris: [`${publicUrl}/auth/callback`],
    postLogoutRedirectUris: [`${publicUrl}/`],
    // Signing out at the gateway (or losing access) ends the app's sessions too; its client then asks for the sid.
    backchannelLogoutUri: `${publicUrl}/backchannel-logout`,
    interactionCallbackUrl: `${publicUrl}/atrium/callback`,
    visibility: { units: [], roles: ['student', 'staff'] },
    firstParty: true,
    botEnabled: true,
  };
}

async function readCredentials(file: string): Promise<Credentials | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Credentials;
  } catch {
    return null;
  }
}

async function writeCredentials(file: string, credentials: Credentials): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, JSON.stringify(credentials, null, 2), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/**
 * What an operator does once with `atrium apps add`, done at the demo's start: registers the app (or
 * brings its URLs in line with the port it runs on and what this version needs) and keeps its secrets in a file of the app's own.
 * Secrets are shown only once, so when that file is lost the app gets new ones.
 */
export async function ensureRegistered(
  ctx: GatewayContext,
  secrets: Sealer,
  options: { publicUrl: string; credentialsFile: string },
): Promise<Credentials & { registered: boolean }> {
  const wanted = registration(options.publicUrl);
  const existing = await ctx.models.App.findOne({ where: { slug: SLUG } });
  if (!existing) {
    const app = await registerApp(ctx, wanted, secrets);
    const credentials = { clientId: app.clientId, clientSecret: app.clientSecret, callbackSecret: app.callbackSecret! };
    await writeCredentials(options.credentialsFile, credentials);
    return { ...credentials, registered: true };
  }
  // Registered by an older demo (no back-channel logout) or for another port: brought in line.
  const client = await loadClient(ctx, existing.clientId);
  if (existing.homeUrl !== wanted.homeUrl || client?.backchannel_logout_uri !== wanted.backchannelLogoutUri) {
    const { slug: _slug, name: _name, ...urls } = wanted;
    await updateApp(ctx, SLUG, urls);
  }
  const stored = await readCredentials(options.credentialsFile);
  if (stored && stored.clientId === existing.clientId) return { ...stored, registered: false };
  const { clientSecret } = await rotateClientSecret(ctx, SLUG);
  const { callbackSecret } = await rotateCallbackSecret(ctx, SLUG, secrets);
  const credentials = { clientId: existing.clientId, clientSecret, callbackSecret };
  await writeCredentials(options.credentialsFile, credentials);
  return { ...credentials, registered: false };
}
