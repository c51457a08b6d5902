import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as client from 'openid-client';
import { BrowserAgent } from '../helpers/browser-agent.ts';
import { registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { loginAttempt, discover } from '../helpers/rp.ts';
import { DEMO_PASSWORD } from '../../gateway/seed/demo.ts';
import { loadGatewayConfig, trustedProxies } from '../../gateway/config.ts';

const REDIRECT = 'http://localhost:9/cb';
/** The address the reverse proxy in front of the gateway saw, which it adds last to X-Forwarded-For. */
const CLIENT = '203.0.113.7';

/** A browser behind the gateway's reverse proxy whose own request says it came from `claimed`. */
class BehindProxy extends BrowserAgent {
  readonly claimed: string;
  constructor(claimed: string) {
    super();
    this.claimed = claimed;
  }
  override request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('x-forwarded-for', `${this.claimed}, ${CLIENT}`);
    return super.request(url, { ...init, headers });
  }
}

let gateway: TestGateway;
const idOf = async (username: string) => (await gateway.models.User.findOne({ where: { username } }))!.id;
let rp: client.Configuration;

beforeAll(async () => {
  // As docker-compose.yml runs it: behind one TLS-terminating reverse proxy.
  gateway = await startTestGateway('trusted-proxy', { ATRIUM_TRUST_PROXY: 'true', LOGIN_IP_LIMIT: '4' });
  const app = await registerTestApp(gateway, { name: 'Timetable', redirectUris: [REDIRECT] });
  rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
});
afterAll(async () => gateway?.stop());

describe('a gateway behind a reverse proxy', () => {
  it("notes a signed-in device's address as its proxy saw it", async () => {
    await loginAttempt(rp, REDIRECT, 'carol', DEMO_PASSWORD, new BehindProxy('<script>1</script>'));
    const devices = await gateway.models.SessionDevice.findAll({ where: { accountId: await idOf('carol') } });
    expect(devices.map((d) => d.ip)).toEqual([CLIENT]);
  });

  it('counts sign-ins by the address its proxy saw, not one the client wrote in X-Forwarded-For', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const page = await loginAttempt(rp, REDIRECT, 'bob', 'not-the-password', new BehindProxy(`198.51.100.${i}`));
      statuses.push(page.status);
    }
    // Four failures from the one network (carol's right password above spent none of it); a new made-up
    // address each time changes nothing.
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
    const audited = await gateway.models.AuditEvent.findAll({ where: { action: 'login', target: 'bob' } });
    expect(new Set(audited.map((e) => e.ip))).toEqual(new Set([CLIENT]));
  });
});

describe('ATRIUM_TRUST_PROXY', () => {
  it('takes false, a number of proxies (true is one) or their addresses, and refuses anything else', () => {
    expect(trustedProxies('false')).toBe(false);
    expect(trustedProxies('true')).toBe(1);
    expect(trustedProxies('2')).toBe(2);
    expect(trustedProxies('10.0.0.5, 10.1.0.0/16,loopback,fd00::/8')).toEqual([
      '10.0.0.5',
      '10.1.0.0/16',
      'loopback',
      'fd00::/8',
    ]);
    for (const bad of ['maybe', '10.0.0.0/33', 'proxy.campus.example', '99'])
      expect(trustedProxies(bad), bad).toBeNull();
    expect(() => loadGatewayConfig({ ATRIUM_TRUST_PROXY: 'maybe' })).toThrow(/ATRIUM_TRUST_PROXY: expected false/);
  });
});
