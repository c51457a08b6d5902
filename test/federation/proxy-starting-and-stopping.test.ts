import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { signRequest, type PrivateKeyJwk } from '../../protocol/signature.ts';
import { loadProxyConfig } from '../../proxy/config.ts';
import { startProxy, type Proxy } from '../../proxy/main.ts';
import { loadProxyKey, publicPart } from '../../proxy/proxy-key.ts';
import { operator } from '../../gateway/context.ts';
import { addProxy } from '../../gateway/federation/policy.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePort } from '../helpers/federation.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import {
  halfSentRequest,
  hammer,
  summary,
  unanswered,
  until,
  type Answer,
  type Hammer,
  type Probe,
} from '../helpers/hammer.ts';

const SUBMIT = '/federation/v1/submit';
const PROBES: Probe[] = [{ path: '/readyz' }, { method: 'POST', path: SUBMIT, body: '{"unsigned":true}' }];
// Unsigned submissions are refused (401); /readyz is 200 once the proxy has the gateway's registry.
const EXPECTED: Record<string, number[]> = { 'GET /readyz': [200], [`POST ${SUBMIT}`]: [401] };

/** A key pinned for the seeded eng.campus.test, whose node is not running: enough to pass the proxy's first look. */
const engKey: PrivateKeyJwk = (() => {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid: 'eng-1' };
})();

let gateway: TestGateway;
let keys: TestDatabase;
let proxy: Proxy | undefined;
let load: Hammer | undefined;

beforeAll(async () => {
  gateway = await startTestGateway('proxy-lifecycle');
  keys = await createTestDatabase('proxy-lifecycle-key');
  // Registered at the gateway before it ever starts, as an operator would, so that it gets the registry.
  const key = loadProxyKey(config(0));
  await addProxy(
    { ...gateway.context(null), actor: operator('test') },
    { name: 'test-proxy', publicJwk: publicPart(key) },
  );
  const { kty, crv, x, kid } = engKey;
  await gateway.models.Domain.update(
    { pinnedKeys: JSON.stringify([{ kty, crv, x, kid }]), pinnedAt: new Date() },
    { where: { name: 'eng.campus.test' } },
  );
});
afterEach(async () => {
  await load?.stop();
  await proxy?.close();
  [load, proxy] = [undefined, undefined];
});
afterAll(async () => {
  await keys?.drop();
  await gateway?.stop();
});

const config = (port: number) =>
  loadProxyConfig({
    PROXY_PORT: String(port),
    PROXY_HOST: '127.0.0.1',
    PROXY_NAME: 'test-proxy',
    GATEWAY_ISSUER: gateway.issuer,
    ATRIUM_DATA_DIR: keys.dataDir,
    LOG_LEVEL: 'silent',
  });
const isStatus = (a: Answer, probe: string, status: number) =>
  a.kind === 'status' && a.probe === probe && a.status === status;

describe('the federation proxy starting and stopping under traffic', () => {
  it('serves from the first connection it accepts', async () => {
    const port = await freePort();
    load = hammer(port, PROBES);
    await until(load, (a) => a.kind === 'refused');
    proxy = await startProxy(config(port));
    await until(load, (a) => isStatus(a, 'GET /readyz', 200));
    const answers = await load.stop();

    expect(await unanswered(answers), JSON.stringify(summary(answers))).toEqual([]);
    expect(answers.filter((a) => a.kind === 'closed')).toEqual([]);
    for (const a of answers) if (a.kind === 'status') expect(EXPECTED[a.probe], a.probe).toContain(a.status);
  });

  it('answers every request that arrives while it stops, finishing the forward it was reading', async () => {
    const port = await freePort();
    proxy = await startProxy(config(port));
    load = hammer(port, PROBES);
    await until(load, (a) => isStatus(a, `POST ${SUBMIT}`, 401));

    // Signed with eng's pinned key, so the proxy reads the body, and over another body (the digest it states),
    // so it is refused once read (400 body_digest_mismatch).
    const signature = signRequest(engKey, {
      method: 'POST',
      path: SUBMIT,
      origin: 'eng.campus.test',
      destination: 'eng.campus.test',
      body: '{}',
    });
    const body = JSON.stringify({ events: ['signed for another body'] });
    const reading = await halfSentRequest(proxy.server, port, SUBMIT, body, 'application/json', signature);
    const closing = proxy.close();
    reading.finish();
    expect(await reading.answer).toEqual({ status: 400, connection: 'close' });
    await closing;
    proxy = undefined;
    await until(load, (a) => a.kind === 'refused');
    const answers = await load.stop();
    expect(await unanswered(answers), JSON.stringify(summary(answers))).toEqual([]);
    for (const a of answers) if (a.kind === 'status') expect([...EXPECTED[a.probe]!, 503], a.probe).toContain(a.status);
  });
});
