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
import { startAtrium, type LongRunning } from '../helpers/cli.ts';
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

/** A new Ed25519 signing key named `kid`. */
function newKey(kid: string): PrivateKeyJwk {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as { x: string; d: string };
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid };
}
/** A key pinned for the seeded eng.campus.test, whose node is not running: enough to pass the proxy's first look. */
const engKey = newKey('eng-1');

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

describe('atrium proxy, as it starts', () => {
  const started: LongRunning[] = [];
  afterEach(async () => {
    for (const child of started.splice(0)) await child.stop('SIGKILL');
  });

  /** `atrium proxy ARGS` as a real process, with the key registered as test-proxy unless `env` says otherwise. */
  async function atriumProxy(
    env: Record<string, string>,
    args: string[] = [],
  ): Promise<{ run: LongRunning; url: string }> {
    const port = await freePort();
    const run = startAtrium(keys, ['proxy', ...args], {
      PROXY_PORT: String(port),
      PROXY_HOST: '127.0.0.1',
      PROXY_NAME: 'test-proxy',
      GATEWAY_ISSUER: gateway.issuer,
      ...env,
    });
    started.push(run);
    return { run, url: `http://127.0.0.1:${port}` };
  }
  const readiness = async (url: string) => {
    const answer = await fetch(`${url}/readyz`);
    return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
  };

  it('says that a registered proxy is registered, and prints no command to register it', async () => {
    const { kid } = publicPart(loadProxyKey(config(0)));
    const { run, url } = await atriumProxy({});
    await run.printed(
      `Federation proxy "test-proxy" is registered at the gateway (${gateway.issuer}) with its key ${kid}: it has the registry and forwards.\n`,
    );
    expect(run.output()).not.toContain('atrium proxies add');
    expect(run.output()).not.toContain('"x":');
    expect(await readiness(url)).toEqual({ status: 200, body: { status: 'ready' } });
  });

  it('says so in --json, with its key', async () => {
    const { run } = await atriumProxy({ LOG_LEVEL: 'silent' }, ['--json']);
    await run.printed('}\n');
    expect(JSON.parse(run.output())).toEqual({
      name: 'test-proxy',
      publicKey: publicPart(loadProxyKey(config(0))),
      registered: true,
    });
  });

  it('prints its key and the command that registers it while the gateway knows no proxy of its name', async () => {
    const key = newKey('p-new');
    const { run, url } = await atriumProxy({ PROXY_NAME: 'new-proxy', PROXY_PRIVATE_KEY: JSON.stringify(key) });
    const jwk = JSON.stringify(publicPart(key));
    await run.printed(`atrium proxies add new-proxy --key '${jwk}'\n`);
    expect(run.output()).toContain(
      [
        'Federation proxy "new-proxy", public key p-new:',
        `  ${jwk}`,
        `The gateway (${gateway.issuer}) has no proxy "new-proxy" registered (HTTP 401 unknown_origin); nodes and the gateway trust only registered proxies. Register it at the gateway once:`,
        `  atrium proxies add new-proxy --key '${jwk}'`,
      ].join('\n'),
    );
    expect(await readiness(url)).toEqual({
      status: 503,
      body: {
        status: 'not_ready',
        checks: { registry: false },
        reason: `The gateway (${gateway.issuer}) has no proxy "new-proxy" registered (HTTP 401 unknown_origin): register it once: \`atrium proxies add new-proxy --key …\` with the key the proxy printed at start`,
      },
    });
  });

  it('prints its key and the command that registers it when the gateway has another key for its name', async () => {
    const key = newKey('p-other');
    const { run, url } = await atriumProxy({ PROXY_PRIVATE_KEY: JSON.stringify(key) });
    await run.printed(`atrium proxies add test-proxy --key '${JSON.stringify(publicPart(key))}'\n`);
    expect(run.output()).toContain(
      `The gateway (${gateway.issuer}) has proxy "test-proxy" registered with another key than this one (HTTP 401 unknown_key)`,
    );
    expect(run.output()).not.toContain('is registered at the gateway');
    expect(await readiness(url)).toEqual({
      status: 503,
      body: {
        status: 'not_ready',
        checks: { registry: false },
        reason: `The gateway (${gateway.issuer}) has proxy "test-proxy" registered with another key than this one, p-other (HTTP 401 unknown_key): run every copy of the proxy with the registered key (ATRIUM_DATA_DIR or PROXY_PRIVATE_KEY), or register this one: \`atrium proxies add test-proxy --key …\` with the key the proxy printed at start`,
      },
    });
  });

  it('says that it cannot tell while the gateway does not answer, with the command in case it is not registered', async () => {
    const away = `http://127.0.0.1:${await freePort()}`;
    const { run, url } = await atriumProxy({ GATEWAY_ISSUER: away });
    await run.printed("atrium proxies add test-proxy --key '");
    expect(run.output()).toMatch(
      /The gateway's registry cannot be fetched from http:\/\/127\.0\.0\.1:\d+ \(GATEWAY_ISSUER\): fetch failed: connect ECONNREFUSED [^\n]*\. Whether this proxy is registered is not known until the gateway answers/,
    );
    expect((await readiness(url)).body.reason).toMatch(
      new RegExp(`^The gateway's registry cannot be fetched from ${away} \\(GATEWAY_ISSUER\\): fetch failed`),
    );
  });
});
