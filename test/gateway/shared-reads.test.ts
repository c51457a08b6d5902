import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateUser } from '../../gateway/accounts/update-user.ts';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { operator } from '../../gateway/context.ts';
import { startGateway, type Gateway } from '../../gateway/main.ts';
import { moveReadVersion, sharedReadsOf } from '../../gateway/shared-reads.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { ENG_NODE, registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const REDIRECT = 'http://localhost:9/shared-reads-cb';

// Two gateway processes over one database, as a deployment runs them: `first` takes the changes (console,
// CLI), `second` serves the token requests and keeps what it read between them.
let first: TestGateway;
let second: Gateway;
let rp: client.Configuration;
let app: { slug: string; clientId: string; clientSecret: string };

beforeAll(async () => {
  first = await startTestGateway('shared-reads');
  second = await startGateway(
    loadGatewayConfig({
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      ATRIUM_ISSUER: first.issuer,
      ATRIUM_DATA_DIR: first.db.dataDir,
      ...(first.db.url ? { DATABASE_URL: first.db.url } : {}),
      LOG_LEVEL: 'silent',
    }),
  );
  app = await registerTestApp(first, { name: 'Timetable', redirectUris: [REDIRECT], firstParty: true });
  rp = await discover(first.issuer, app.clientId, app.clientSecret);
});
afterAll(async () => {
  await second?.close();
  await first?.stop();
});

const asOperator = () => ({ ...first.context(null), actor: operator('test') });

/** A refresh grant for the eng node at the second gateway: the new refresh token, or the error. */
async function refreshAtSecond(
  refreshToken: string,
): Promise<{ refreshToken?: string; accessToken?: string; error?: string }> {
  const { port } = second.server.address() as AddressInfo;
  const response = await fetch(`http://127.0.0.1:${port}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, resource: ENG_NODE }),
  });
  const body = (await response.json()) as { refresh_token?: string; access_token?: string; error?: string };
  return body.error ? { error: body.error } : { refreshToken: body.refresh_token, accessToken: body.access_token };
}

/** Signed in at the first gateway, then one refresh at the second, which so has read the person and the app. */
async function servedBySecond(username: string): Promise<string> {
  const { tokens } = await codeFlow(rp, REDIRECT, username, {
    scope: 'openid profile atrium im offline_access',
    resource: ENG_NODE,
  });
  const served = await refreshAtSecond(tokens.refresh_token!);
  expect(served.error).toBeUndefined();
  return served.refreshToken!;
}

describe('a change made through one gateway process', () => {
  it("is honoured by the other's very next request: the person's units", async () => {
    const refreshToken = await servedBySecond('carol');
    await updateUser(asOperator(), 'carol', { units: ['campus/arts/music'], moveChat: true });
    expect(await refreshAtSecond(refreshToken)).toEqual({ error: 'invalid_target' });
  });

  it("is honoured by the other's very next request: an account made inactive", async () => {
    const refreshToken = await servedBySecond('dave');
    // Straight in the database, as a directory sync leaves it (its tokens stay).
    await first.models.User.update({ status: 'disabled' }, { where: { username: 'dave' } });
    try {
      expect(await refreshAtSecond(refreshToken)).toEqual({ error: 'invalid_grant' });
    } finally {
      await first.models.User.update({ status: 'active' }, { where: { username: 'dave' } });
    }
  });

  it("is honoured by the other's very next request: an app disabled, then enabled again", async () => {
    const refreshToken = await servedBySecond('alice');
    await setAppDisabled(asOperator(), app.slug, true);
    expect(await refreshAtSecond(refreshToken)).toEqual({ error: 'invalid_client' });
    await setAppDisabled(asOperator(), app.slug, false);
    expect((await refreshAtSecond(refreshToken)).refreshToken).toBeTruthy();
  });

  it("is honoured by the other's very next request: a person renamed, in the node token's claims", async () => {
    const refreshToken = await servedBySecond('alice');
    await updateUser(asOperator(), 'alice', { displayName: 'Alice Renamed' });
    const served = await refreshAtSecond(refreshToken);
    expect(decodeJwt(served.accessToken!).name).toBe('Alice Renamed');
  });
});

describe('the read counter', () => {
  it('is read once for the requests that ask while a read of it is on its way, and a move is seen after it', async () => {
    const reads = sharedReadsOf(second.sequelize);
    let statements = 0;
    second.sequelize.addHook('afterQuery', 'count-counter', (_options, query) => {
      if (/FROM\s+read_version/i.test(String((query as unknown as { sql?: string }).sql ?? ''))) statements += 1;
    });
    try {
      // The first asks alone; the four asking meanwhile share the one read sent when it is back.
      const [alone, ...together] = await Promise.all(Array.from({ length: 5 }, () => reads.current()));
      expect(statements).toBe(2);
      for (const kept of together) expect(kept).toBe(together[0]);
      expect(alone).toBeDefined();
      await moveReadVersion(first.sequelize);
      const after = await reads.current();
      expect(statements).toBe(3);
      expect(after).not.toBe(together[0]);
    } finally {
      second.sequelize.removeHook('afterQuery', 'count-counter');
    }
  });
});
