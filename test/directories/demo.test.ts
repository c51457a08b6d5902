import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { freePorts } from '../helpers/ports.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { inspectDatabase, jsonOf, runAtrium, startAtrium, type LongRunning } from '../helpers/cli.ts';
import { requireSlapd } from '../helpers/slapd.ts';
import { pino } from 'pino';
import {
  DEMO_DIRECTORY,
  DEMO_DIRECTORY_PASSWORD,
  demoDirectoryUnit,
  describeDemoDirectory,
} from '../../cli/demo-directory.ts';
import type { Io } from '../../cli/command.ts';
import type { GatewayConfig } from '../../gateway/config.ts';

const REDIRECT = 'http://localhost:9/library-cb';
let db: TestDatabase;
let demo: LongRunning | undefined;
let env: Record<string, string>;
let app: { clientId: string; clientSecret: string };

const reachable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

const FORGOT = 'forgot the entry ids an older demo linked its directory people to; matching them by username';

/** Starts the demo on the test's data and waits for its banner; the directory's URL as the banner shows it. */
async function startDemo(): Promise<{ banner: string; url: string }> {
  demo = startAtrium(db, ['demo'], env);
  await demo.printed('Press Ctrl+C to stop.', 90_000);
  const banner = demo.output();
  const url = /the demo directory at (ldap:\/\/127\.0\.0\.1:\d+)/.exec(banner)?.[1];
  expect(url, banner).toBeDefined();
  return { banner, url: url! };
}

async function directoryUrl(): Promise<string | undefined> {
  const inspect = await inspectDatabase(db);
  try {
    return (await inspect.ctx.models.Directory.findOne({ where: { name: DEMO_DIRECTORY } }))?.url;
  } finally {
    await inspect.close();
  }
}

/** A student of the library signs in to the app with the password the banner prints. */
async function signInAsJonas(): Promise<void> {
  const rp = await discover(`http://localhost:${env.GATEWAY_PORT}`, app.clientId, app.clientSecret);
  const { tokens } = await codeFlow(rp, REDIRECT, 'jonas', {}, undefined, DEMO_DIRECTORY_PASSWORD);
  expect(decodeJwt(tokens.id_token!)).toMatchObject({
    preferred_username: 'jonas',
    org_units: ['campus/arts/library/archives'],
  });
}

beforeAll(async () => {
  requireSlapd();
  db = await createTestDatabase('dir-demo');
});
// A test that failed half-way leaves no demo holding the ports the next one starts on.
afterEach(async () => {
  if (demo?.child.exitCode === null) await demo.stop('SIGKILL');
});
afterAll(async () => {
  await demo?.stop('SIGKILL');
  await db?.drop();
});

describe('the demo campus', () => {
  it('runs a directory of its own, whose people sign in with its password, and stops it on exit', {
    timeout: 120_000,
  }, async () => {
    // All different: ports taken one after another may repeat, and the demo would find one in use.
    const [gatewayPort, proxy, eng, arts, leave] = (await freePorts(5)) as [number, number, number, number, number];
    env = {
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_HOST: '127.0.0.1',
      DEMO_PROXY_PORT: String(proxy),
      DEMO_ENG_PORT: String(eng),
      DEMO_ARTS_PORT: String(arts),
      DEMO_LEAVE_PORT: String(leave),
    };
    expect((await runAtrium(db, ['migrate'])).code).toBe(0);
    app = jsonOf(
      await runAtrium(db, [
        'apps',
        'add',
        '--name',
        'Library catalogue',
        '--redirect-uri',
        REDIRECT,
        '--first-party',
        '--json',
      ]),
    );

    demo = startAtrium(db, ['demo'], env);
    await demo.printed('Press Ctrl+C to stop.', 90_000);
    const banner = demo.output();
    const ldapUrl = /the demo directory at (ldap:\/\/127\.0\.0\.1:(\d+))/.exec(banner);
    expect(ldapUrl, banner).not.toBeNull();
    expect(banner).toContain(
      `They sign in with the directory's password, ${DEMO_DIRECTORY_PASSWORD}, which Atrium never stores`,
    );
    expect(banner).toMatch(/ines\s+librarian \(staff\), unit admin of the Library/);
    expect(banner).toMatch(/Its last sync: Synced demo-library in [\d.]+ s: 3 entries; 3 added/);

    const rp = await discover(`http://localhost:${gatewayPort}`, app.clientId, app.clientSecret);
    const { tokens } = await codeFlow(rp, REDIRECT, 'ines', {}, undefined, DEMO_DIRECTORY_PASSWORD);
    const claims = decodeJwt(tokens.id_token!);
    expect(claims).toMatchObject({
      preferred_username: 'ines',
      roles: ['staff', 'unit-admin'],
      im_home_domain: 'arts.campus.test',
    });
    expect(claims.org_units).toEqual(['campus/arts/library']);

    expect(await demo.stop('SIGINT')).toBe(0);
    const stopped = demo
      .output()
      .split('\n')
      .filter((line) => line.includes('"msg":"stopped"'))
      .map((line) => JSON.parse(line).unit);
    expect(stopped.at(-1)).toBe('directory');
    expect(await reachable(Number(ldapUrl![2]))).toBe(false);
  });

  it('starts again on the same data, its directory on whatever port it has now, and the library people still sign in', {
    timeout: 120_000,
  }, async () => {
    const { banner, url } = await startDemo();
    expect(banner).toMatch(
      /Its last sync: Synced demo-library in [\d.]+ s: 3 entries; 0 added, \d+ updated, \d+ unchanged, 0 disabled/,
    );
    expect(banner).not.toContain(FORGOT);
    expect(await directoryUrl()).toBe(url);
    await signInAsJonas();
    expect(await demo!.stop('SIGINT')).toBe(0);
  });

  it('recovers data of an older demo, whose people were linked to entry ids of a directory long gone', {
    timeout: 120_000,
  }, async () => {
    const inspect = await inspectDatabase(db);
    try {
      const directory = await inspect.ctx.models.Directory.findOne({ where: { name: DEMO_DIRECTORY } });
      const links = await inspect.ctx.models.DirectoryAccount.findAll({ where: { directoryId: directory!.id } });
      expect(links).toHaveLength(3);
      // What an older demo left: each start built its directory anew, with ids slapadd drew at random.
      for (const link of links) await link.update({ entryId: Buffer.from(randomUUID()).toString('hex') });
    } finally {
      await inspect.close();
    }
    const { banner } = await startDemo();
    expect(await demo!.log(FORGOT)).toMatchObject({ directory: DEMO_DIRECTORY, links: 3 });
    expect(banner).toMatch(/Its last sync: Synced demo-library in [\d.]+ s: 3 entries; 0 added, .* 0 disabled/);
    await signInAsJonas();
    expect(await demo!.stop('SIGINT')).toBe(0);
  });
});

describe('the demo campus without slapd', () => {
  it('goes on without a directory, and says how to install slapd to see directory sign-in', async () => {
    const unit = demoDirectoryUnit({} as GatewayConfig, {} as Io, pino({ level: 'silent' }), () => false);
    const running = await unit.start();
    expect(running.state.running).toBe(false);
    expect(running.endpoints).toEqual([]);
    const told = describeDemoDirectory(running.state).join('\n');
    expect(told).toContain('slapd is not installed');
    expect(told).toContain('apt-get install slapd ldap-utils');
    await running.close();
  });
});
