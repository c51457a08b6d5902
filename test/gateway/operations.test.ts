import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { loadNodeConfig } from '../../node/config.ts';
import { loadProxyConfig } from '../../proxy/config.ts';
import { getFrom, OUTSIDE_ADDRESS } from '../helpers/metrics-reader.ts';

/** The operator's bearer token for /metrics here. */
const METRICS_TOKEN = 'metrics-token-of-the-operations-test-0123';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway('ops', { METRICS_TOKEN });
});
afterAll(async () => gateway?.stop());

describe('operating the gateway', () => {
  it('answers health, readiness and Prometheus metrics', async () => {
    await request(gateway.server).get('/healthz').expect(200, { status: 'ok' });
    await request(gateway.server)
      .get('/readyz')
      .expect(200, { status: 'ready', checks: { database: true } });
    const metrics = (
      await request(gateway.server).get('/metrics').set('authorization', `Bearer ${METRICS_TOKEN}`).expect(200)
    ).text;
    expect(metrics).toContain('atrium_http_requests_total');
    expect(metrics).toContain('process_resident_memory_bytes');
  });

  it("answers /metrics only with the operator's token, this machine too, while health stays open to all", async () => {
    const url = `${gateway.issuer}/metrics`;
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${METRICS_TOKEN.slice(0, -1)}`, METRICS_TOKEN]) {
      const read = await getFrom(url, { headers: authorization ? { authorization } : {} });
      expect(read, String(authorization)).toMatchObject({ status: 401, code: 'unauthenticated' });
      expect(read.challenge).toMatch(/^Bearer/);
      expect(read.text).not.toContain('process_resident_memory_bytes');
    }
    const bearer = { authorization: `bearer ${METRICS_TOKEN}` };
    expect((await getFrom(url, { headers: bearer })).text).toContain('atrium_http_requests_total');
    if (OUTSIDE_ADDRESS) expect((await getFrom(url, { from: OUTSIDE_ADDRESS, headers: bearer })).status).toBe(200);
    for (const path of ['/healthz', '/readyz'])
      expect((await getFrom(`${gateway.issuer}${path}`, { from: OUTSIDE_ADDRESS })).status, path).toBe(200);
  });

  it('sends a strict content security policy and no framework banner', async () => {
    const response = await request(gateway.server).get('/.well-known/openid-configuration').expect(200);
    expect(response.headers['content-security-policy']).toContain("script-src 'self'");
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['x-powered-by']).toBeUndefined();
  });

  it('shows a readable page for an interaction that does not exist', async () => {
    const asked = await request(gateway.server).get('/interaction/nope').set('accept', 'text/html').expect(303);
    expect(asked.headers.location).toBe('/interaction/nope/over');
    const response = await request(gateway.server).get('/interaction/nope/over').set('accept', 'text/html').expect(400);
    expect(response.text).toContain('This sign-in has already finished, or it expired');
    expect(response.text).toContain('href="/account"');
  });

  it('reports not ready once the database is gone', async () => {
    const other = await startTestGateway('ops-down');
    await other.sequelize.close();
    await request(other.server).get('/readyz').expect(503);
    other.server.close();
    other.server.closeAllConnections();
    await other.db.drop();
  });
});

describe('configuration', () => {
  it('names each bad variable and what it expects', () => {
    const attempt = () =>
      loadGatewayConfig({ GATEWAY_PORT: 'eighty', LOGIN_MAX_FAILURES: '-1', ATRIUM_DATA_DIR: '/tmp/x' });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      const problems = (error as ConfigError).problems.join('\n');
      expect(problems).toContain('GATEWAY_PORT: expected a port number');
      expect(problems).toContain('LOGIN_MAX_FAILURES: expected a positive number');
    }
  });

  it('issues no access token that the domain nodes would refuse as lasting too long', () => {
    const base = { ATRIUM_DATA_DIR: '/tmp/x' };
    expect(loadGatewayConfig({ ...base, ACCESS_TOKEN_TTL_SECONDS: '86400' }).accessTokenTtlSeconds).toBe(86_400);
    expect(() => loadGatewayConfig({ ...base, ACCESS_TOKEN_TTL_SECONDS: '86401' })).toThrow(
      /ACCESS_TOKEN_TTL_SECONDS: at most 86400 \(a day\): domain nodes refuse/,
    );
  });

  it('takes a METRICS_TOKEN in every unit, none too short to be a secret', () => {
    const token = 'x'.repeat(32);
    const base = { ATRIUM_DATA_DIR: '/tmp/x', NODE_DOMAIN: 'eng.campus.test' };
    const loaders = [loadGatewayConfig, loadNodeConfig, loadProxyConfig];
    for (const load of loaders) expect(load({ ...base, METRICS_TOKEN: token }).metricsToken).toBe(token);
    for (const load of loaders) {
      expect(load(base).metricsToken).toBeUndefined();
      expect(() => load({ ...base, METRICS_TOKEN: 'short' })).toThrow(
        'METRICS_TOKEN: expected at least 32 characters of random secret',
      );
    }
  });

  it('refuses production without its own secrets and an https issuer', () => {
    try {
      loadGatewayConfig({ ATRIUM_MODE: 'production', ATRIUM_ISSUER: 'http://id.campus.test' });
      expect.unreachable();
    } catch (error) {
      const problems = (error as ConfigError).problems.join('\n');
      expect(problems).toContain('ATRIUM_SECRET_KEY: required in production');
      expect(problems).toContain('ATRIUM_COOKIE_KEYS: required in production');
      expect(problems).toContain('ATRIUM_ISSUER: must be an https:// URL in production');
    }
  });
});
