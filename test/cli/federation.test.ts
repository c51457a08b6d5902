import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/federation.ts';
import { jsonOf, runAtrium, startAtrium, type LongRunning } from '../helpers/cli.ts';
import { operator } from '../../gateway/context.ts';
import { updateDomain } from '../../gateway/domains/domains.ts';
import { garbageServer } from '../helpers/broken-servers.ts';

const ENG = 'eng.campus.test';

let gateway: TestGateway;
/** The eng node's own database (and data directory, which also holds its sealing secret and the proxy's key). */
let nodeDb: TestDatabase;
const running: LongRunning[] = [];

const operatorCtx = () => ({ ...gateway.context(null), actor: operator('test') });
const domainRow = (name: string) => gateway.models.Domain.findOne({ where: { name } });

beforeAll(async () => {
  gateway = await startTestGateway('cli-federation');
  nodeDb = await createTestDatabase('cli-node-eng');
});
afterAll(async () => {
  for (const child of running) await child.stop('SIGKILL');
  await nodeDb?.drop();
  await gateway?.stop();
});

describe('atrium node and migrate --node', () => {
  it('shows the node command with its keys subcommands, and refuses an unknown subcommand', async () => {
    const [help, keys, unknown, noDomain] = await Promise.all([
      runAtrium(nodeDb, ['node', '--help']),
      runAtrium(nodeDb, ['node', 'keys', '--help']),
      runAtrium(nodeDb, ['node', 'frob']),
      runAtrium(nodeDb, ['node', 'keys', 'list']),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: atrium node --domain NAME');
    expect(help.stdout).toMatch(/Commands:\n {2}keys {2}A domain node's signing keys/);
    expect(keys.code).toBe(0);
    expect(keys.stdout).toMatch(/ {2}rotate {2}.*\n {2}list {4}/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "node frob" (one of: keys)');
    expect(noDomain.code).toBe(2);
    expect(noDomain.stderr).toContain('missing --domain NAME');
  });

  it('refuses to start a node, or to touch its keys, while its migrations are pending, naming the command to run', async () => {
    const env = { NODE_PORT: String(await freePort()), NODE_HOST: '127.0.0.1', GATEWAY_ISSUER: gateway.issuer };
    const [node, keys, badName] = await Promise.all([
      runAtrium(nodeDb, ['node', '--domain', ENG], { env }),
      runAtrium(nodeDb, ['node', 'keys', 'list', '--domain', ENG, '--json']),
      runAtrium(nodeDb, ['migrate', '--node', 'not a domain', '--json']),
    ]);
    expect(node.code).toBe(1);
    expect(node.stderr).toMatch(
      /The eng\.campus\.test node database has \d+ pending migration\(s\) .*; run "atrium migrate --node eng\.campus\.test" first/,
    );
    expect(node.stderr).not.toMatch(/^\s+at /m);
    expect(keys.code).toBe(1);
    expect(jsonOf(keys).error.code).toBe('not_migrated');
    expect(badName.code).toBe(2);
    expect(jsonOf(badName).error.fields).toEqual({ '--node': 'expected a DNS-like domain such as eng.campus.test' });
  });

  it("migrates the node's database, and has nothing to apply the second time", async () => {
    const first = await runAtrium(nodeDb, ['migrate', '--node', ENG, '--json']);
    expect(first.code).toBe(0);
    const { applied, database } = jsonOf(first);
    expect(applied).toEqual(expect.arrayContaining(['0001-conversations-and-messages.ts', '0010-federation.ts']));
    expect(database).toMatch(nodeDb.url ? new RegExp(`/${nodeDb.name}$`) : /node-eng\.campus\.test\.sqlite$/);
    const second = await runAtrium(nodeDb, ['migrate', '--node', ENG]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('The eng.campus.test node database');
    expect(second.stdout).toContain('is up to date; no migration applied.');
  });

  it('runs a node that answers /healthz and serves its keys, which the CLI pins and rotates while it runs, and stops it on SIGTERM', async () => {
    const port = await freePort();
    const nodeUrl = `http://127.0.0.1:${port}`;
    await updateDomain(operatorCtx(), ENG, { url: nodeUrl });
    const node = startAtrium(nodeDb, ['node', '--domain', ENG], {
      NODE_PORT: String(port),
      NODE_HOST: '127.0.0.1',
      NODE_PUBLIC_URL: nodeUrl,
      GATEWAY_ISSUER: gateway.issuer,
    });
    running.push(node);
    const listening = await node.log('domain node listening');
    // `url` is the domain's, which its processes share; `listen` says which process this is.
    expect(listening).toMatchObject({ domain: ENG, url: nodeUrl, listen: `127.0.0.1:${port}` });
    expect((await fetch(`${nodeUrl}/healthz`)).status).toBe(200);

    const listed = jsonOf(await runAtrium(nodeDb, ['node', 'keys', 'list', '--domain', ENG, '--json']));
    expect(listed.keys).toEqual([
      {
        kid: expect.stringMatching(/^k-/),
        state: 'active',
        createdAt: expect.any(String),
        retiredAt: null,
        verifiesUntil: null,
      },
    ]);
    const firstKid: string = listed.keys[0].kid;

    const pinned = await runAtrium(gateway.db, ['domains', 'pin', ENG, '--json']);
    expect(pinned.code).toBe(0);
    expect(jsonOf(pinned)).toEqual({ domain: ENG, kids: [firstKid], changed: true });
    const again = await runAtrium(gateway.db, ['domains', 'pin', ENG]);
    expect(again.stdout).toBe(`${ENG} is pinned already with ${firstKid}; nothing changed.\n`);

    const rotated = await runAtrium(nodeDb, ['node', 'keys', 'rotate', '--domain', ENG, '--json']);
    expect(rotated.code).toBe(0);
    const secondKid: string = jsonOf(rotated).kid;
    expect(secondKid).not.toBe(firstKid);
    // The new key is published as `next` at once; the node keeps signing with the pinned one until the
    // gateway has pinned the new key (the node asks within a minute; `domains pin` does it now).
    const served = (await (await fetch(`${nodeUrl}/.well-known/atrium/keys`)).json()) as {
      keys: { kid: string; status: string }[];
    };
    expect(served.keys.map((k) => [k.kid, k.status])).toEqual([
      [secondKid, 'next'],
      [firstKid, 'active'],
    ]);
    const repinned = jsonOf(await runAtrium(gateway.db, ['domains', 'pin', ENG, '--json']));
    expect(repinned).toEqual({ domain: ENG, kids: [secondKid, firstKid], changed: true });
    expect(JSON.parse((await domainRow(ENG))!.pinnedKeys!).map((k: { kid: string }) => k.kid)).toEqual([
      secondKid,
      firstKid,
    ]);

    // A rotation with a secret the node cannot open would leave it unable to sign: refused, nothing added.
    const wrongSecret = await runAtrium(nodeDb, ['node', 'keys', 'rotate', '--domain', ENG, '--json'], {
      env: { NODE_SECRET_KEY: 'x'.repeat(40) },
    });
    expect(wrongSecret.code).toBe(1);
    expect(jsonOf(wrongSecret).error.code).toBe('wrong_secret');
    const text = await runAtrium(nodeDb, ['node', 'keys', 'list', '--domain', ENG]);
    expect(text.stdout).toMatch(
      new RegExp(
        `^KID\\s+STATE\\s+CREATED\\s+VERIFIES UNTIL\\n${secondKid}\\s+next\\s+\\S+\\n${firstKid}\\s+active\\s+\\S+\\n$`,
      ),
    );

    expect(await node.stop('SIGTERM')).toBe(0);
    expect(node.output()).toContain('"msg":"shutting down"');
    expect(node.output()).toContain(`"unit":"node ${ENG}","msg":"stopped"`);
    await expect(fetch(`${nodeUrl}/healthz`)).rejects.toThrow();
  });

  it('refuses to start a node whose secret does not open its keys, or whose Redis does not answer as Redis, in one line each', async () => {
    const env = { NODE_PORT: String(await freePort()), NODE_HOST: '127.0.0.1', GATEWAY_ISSUER: gateway.issuer };
    const nothing = await freePort();
    const notRedis = await garbageServer();
    const notRedisPort = new URL(notRedis.url).port;
    try {
      const [wrongSecret, unreachable, speaksHttp] = await Promise.all([
        runAtrium(nodeDb, ['node', '--domain', ENG], { env: { ...env, NODE_SECRET_KEY: 'x'.repeat(40) } }),
        runAtrium(nodeDb, ['node', '--domain', ENG], {
          env: { ...env, REDIS_URL: `redis://:hunter2-redis@127.0.0.1:${nothing}` },
        }),
        runAtrium(nodeDb, ['node', '--domain', ENG], {
          env: { ...env, REDIS_URL: `redis://127.0.0.1:${notRedisPort}` },
        }),
      ]);
      expect(wrongSecret.code).toBe(1);
      expect(wrongSecret.stderr).toBe(
        `atrium: This is not the secret the ${ENG} node's keys are sealed with now (set at its first start or by the last "atrium secrets reseal --node ${ENG}"): start the node with that secret as NODE_SECRET_KEY (or, without it, the development secret file in ATRIUM_DATA_DIR), or in NODE_SECRET_KEY_PREVIOUS while a rotation is under way\n`,
      );
      expect(unreachable.code).toBe(1);
      expect(unreachable.stderr).toBe(
        `atrium: Cannot open Redis at REDIS_URL redis://127.0.0.1:${nothing}: connect ECONNREFUSED 127.0.0.1:${nothing}\n`,
      );
      expect(speaksHttp.code).toBe(1);
      expect(speaksHttp.stderr).toBe(
        `atrium: Cannot open Redis at REDIS_URL redis://127.0.0.1:${notRedisPort}: what answers there does not speak the Redis protocol\n`,
      );
      for (const refused of [wrongSecret, unreachable, speaksHttp]) expect(refused.stdout).toBe('');
    } finally {
      await notRedis.close();
    }
  });
});

describe('atrium domains: pins and the federation policy', () => {
  it('allows and denies pairs of domains and lists the policy, refusing bad pairs without changing anything', async () => {
    const empty = await runAtrium(gateway.db, ['domains', 'policy']);
    expect(empty).toMatchObject({
      code: 0,
      stdout:
        'No pair of domains may exchange messages yet. Allow one with: atrium domains allow DOMAIN OTHER_DOMAIN\n',
    });

    const allowed = await runAtrium(gateway.db, ['domains', 'allow', ENG, 'arts.campus.test', '--json']);
    expect(allowed.code).toBe(0);
    expect(jsonOf(allowed)).toEqual({ allowed: ['arts.campus.test', ENG], policy: [['arts.campus.test', ENG]] });
    const twice = await runAtrium(gateway.db, ['domains', 'allow', 'arts.campus.test', ENG]);
    expect(twice).toMatchObject({ code: 0, stdout: `Allowed arts.campus.test <-> ${ENG}.\n` });

    const self = await runAtrium(gateway.db, ['domains', 'allow', ENG, ENG, '--json']);
    expect(self.code).toBe(2);
    expect(jsonOf(self).error.fields).toEqual({ b: 'two different domains' });
    const unknown = await runAtrium(gateway.db, ['domains', 'allow', ENG, 'law.campus.test']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No domain law.campus.test');
    const missing = await runAtrium(gateway.db, ['domains', 'deny', ENG]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('missing OTHER_DOMAIN');

    const policy = await runAtrium(gateway.db, ['domains', 'policy']);
    expect(policy.stdout).toBe(`DOMAIN A          DOMAIN B\narts.campus.test  ${ENG}\n`);
    expect(await gateway.models.FederationPair.count()).toBe(1);

    const denied = await runAtrium(gateway.db, ['domains', 'deny', 'arts.campus.test', ENG, '--json']);
    expect(jsonOf(denied)).toEqual({ denied: ['arts.campus.test', ENG], policy: [] });
    expect(await gateway.models.FederationPair.count()).toBe(0);
    const audit = await gateway.models.AuditEvent.findAll({
      where: { action: ['federation.allow', 'federation.deny'] },
    });
    // Allowing a pair twice changes nothing the second time, so only one allow is audited.
    expect(audit.map((e) => e.action).sort()).toEqual(['federation.allow', 'federation.deny']);
  });

  it('unpins a domain, lists pins, and refuses to pin a domain whose node does not answer', async () => {
    const listed = jsonOf(await runAtrium(gateway.db, ['domains', 'list', '--json']));
    expect(listed.domains.find((d: { name: string }) => d.name === ENG).pinnedKids).toHaveLength(2);
    const unpinned = await runAtrium(gateway.db, ['domains', 'unpin', ENG]);
    expect(unpinned).toMatchObject({
      code: 0,
      stdout: `Unpinned ${ENG}; pin it again with: atrium domains pin ${ENG}\n`,
    });
    expect((await domainRow(ENG))!.pinnedKeys).toBeNull();

    // The eng node was stopped above; arts never ran.
    const [down, unknown] = await Promise.all([
      runAtrium(gateway.db, ['domains', 'pin', ENG, '--json']),
      runAtrium(gateway.db, ['domains', 'unpin', 'law.campus.test']),
    ]);
    expect(down.code).toBe(1);
    expect(jsonOf(down).error).toMatchObject({
      code: 'node_unreachable',
      message: expect.stringContaining(`Could not read ${ENG}'s keys`),
    });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No domain law.campus.test');
    expect((await domainRow(ENG))!.pinnedKeys).toBeNull();
    const text = await runAtrium(gateway.db, ['domains', 'list']);
    expect(text.stdout).toMatch(/eng\.campus\.test\s+\S+\s+campus\/eng\s+\(not pinned\)/);
  });
});

describe('atrium proxy and proxies', () => {
  it('runs the proxy, which prints its name and key; once registered with proxies add, it can read the registry', async () => {
    const port = await freePort();
    const proxyUrl = `http://127.0.0.1:${port}`;
    const proxy = startAtrium(nodeDb, ['proxy'], {
      PROXY_PORT: String(port),
      PROXY_HOST: '127.0.0.1',
      PROXY_NAME: 'cli-proxy',
      GATEWAY_ISSUER: gateway.issuer,
      // /readyz asks the gateway again at most this often (10 s by default).
      PROXY_READY_RECHECK_SECONDS: '1',
    });
    running.push(proxy);
    await proxy.printed("atrium proxies add cli-proxy --key '");
    // Where it listens, once; the unit's name is the logger's own `name`, not a second key of that name.
    await proxy.printed('"msg":"federation proxy listening"}\n');
    const listening = proxy
      .output()
      .split('\n')
      .find((line) => line.includes('"federation proxy listening"'))!;
    expect(listening.match(/"name":/g)).toHaveLength(1);
    expect(JSON.parse(listening)).toMatchObject({ name: 'proxy:cli-proxy', listen: `127.0.0.1:${port}` });
    const key = /--key '(\{[^']+\})'/.exec(proxy.output())![1]!;
    const jwk = JSON.parse(key) as Record<string, string>;
    expect(jwk).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: expect.stringMatching(/^[\w-]{43}$/),
      kid: expect.stringMatching(/^p-/),
    });
    expect(jwk).not.toHaveProperty('d');
    expect(proxy.output()).toContain(`Federation proxy "cli-proxy", public key ${jwk.kid}:`);
    expect((await fetch(`${proxyUrl}/healthz`)).status).toBe(200);
    // The gateway answers the registry only to a registered proxy.
    expect((await fetch(`${proxyUrl}/readyz`)).status).toBe(503);

    const [notJson, badKey, neither] = await Promise.all([
      runAtrium(gateway.db, ['proxies', 'add', 'cli-proxy', '--key', '{kty:OKP}', '--json']),
      runAtrium(gateway.db, ['proxies', 'add', 'cli-proxy', '--key', '{"kty":"RSA","n":"abc"}', '--json']),
      runAtrium(gateway.db, ['proxies', 'add', 'cli-proxy', '--json']),
    ]);
    for (const refused of [notJson, badKey, neither]) expect(refused.code).toBe(2);
    expect(jsonOf(notJson).error.fields).toEqual({ key: expect.stringContaining('JSON object') });
    expect(Object.keys(jsonOf(badKey).error.fields)[0]).toMatch(/^publicJwk/);
    expect(jsonOf(neither).error.fields).toEqual({ publicJwk: 'give a key or a peer URL' });
    expect(await gateway.models.FederationProxy.count({ where: { name: 'cli-proxy' } })).toBe(0);

    const added = await runAtrium(gateway.db, ['proxies', 'add', 'cli-proxy', '--key', key]);
    expect(added).toMatchObject({ code: 0, stdout: `Registered proxy cli-proxy with key ${jwk.kid}.\n` });
    // Within PROXY_READY_RECHECK_SECONDS, without a restart.
    await expect.poll(async () => (await fetch(`${proxyUrl}/readyz`)).status, { timeout: 10_000 }).toBe(200);
    const listed = jsonOf(await runAtrium(gateway.db, ['proxies', 'list', '--json']));
    expect(listed.proxies).toEqual([{ name: 'cli-proxy', kid: jwk.kid, peerUrl: null, createdAt: expect.any(String) }]);

    // Taken off the gateway: asked to confirm first, then refused the registry, which its /readyz says.
    const unconfirmed = await runAtrium(gateway.db, ['proxies', 'remove', 'cli-proxy']);
    expect(unconfirmed.code).toBe(2);
    expect(await gateway.models.FederationProxy.count({ where: { name: 'cli-proxy' } })).toBe(1);
    const removed = await runAtrium(gateway.db, ['proxies', 'remove', 'cli-proxy', '--yes']);
    expect(removed).toMatchObject({
      code: 0,
      stdout: `Removed proxy cli-proxy (key ${jwk.kid}): the gateway refuses it from its next request.\n`,
    });
    await expect.poll(async () => (await fetch(`${proxyUrl}/readyz`)).status, { timeout: 10_000 }).toBe(503);
    expect(((await (await fetch(`${proxyUrl}/readyz`)).json()) as { reason: string }).reason).toContain(
      'registered any more',
    );
    const again = await runAtrium(gateway.db, ['proxies', 'remove', 'cli-proxy', '--yes']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('No proxy cli-proxy is registered');
    const [entry] = await gateway.models.AuditEvent.findAll({ where: { action: 'federation.proxy_removed' } });
    expect(entry).toMatchObject({ target: 'cli-proxy' });
    expect(JSON.parse(entry!.details!)).toEqual({ kid: jwk.kid, peerUrl: null });

    expect(await proxy.stop('SIGTERM')).toBe(0);
    expect(proxy.output()).toContain('"unit":"proxy","msg":"stopped"');
  });
});
