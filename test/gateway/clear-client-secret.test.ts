import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENG_NODE, registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let gateway: TestGateway;
const logs: { level: number; msg: string; clientId?: string }[] = [];

beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  gateway = await startTestGateway('clear-client-secret', {}, { logger });
});
afterAll(async () => gateway?.stop());

/** A client-credentials request for a node token, with the app's secret. */
async function tokenRequest(clientId: string, secret: string) {
  return fetch(`${gateway.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'im', resource: ENG_NODE }),
  });
}

describe('an app whose secret an older gateway stored in the clear', () => {
  it('is refused, and the log says why and how to mend it, once', async () => {
    const app = await registerTestApp(gateway, {
      name: 'Old Side App',
      redirectUris: ['http://localhost:9/cb'],
      botEnabled: true,
    });
    // As a gateway of before sealed secrets writes it, during a rolling upgrade.
    const row = await gateway.models.OidcPayload.findOne({ where: { model: 'Client', id: app.clientId } });
    const { client_secret_sealed: _sealed, ...rest } = JSON.parse(row!.payload) as Record<string, unknown>;
    await row!.update({ payload: JSON.stringify({ ...rest, client_secret: app.clientSecret }) });

    for (let i = 0; i < 2; i++) expect((await tokenRequest(app.clientId, app.clientSecret)).status).toBe(400);
    const said = logs.filter((l) => l.clientId === app.clientId);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({
      level: 50,
      msg: expect.stringContaining('is stored in the clear'),
    });
    expect(said[0]!.msg).toContain('atrium apps rotate-secret');
  });
});
