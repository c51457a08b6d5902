import { randomUUID } from 'node:crypto';
import { loadGatewayConfig } from '../../gateway/config.ts';
import type { GatewayModels } from '../../gateway/models/index.ts';
import { startGateway, type Gateway, type StartOptions } from '../../gateway/main.ts';
import { operator } from '../../gateway/context.ts';
import { DEMO_PASSWORD, seedDemo } from '../../gateway/seed/demo.ts';
import { registerApp, type RegisteredApp } from '../../gateway/apps-registry/register-app.ts';
import { importUsers } from '../../gateway/accounts/import-users.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { BrowserAgent, signInThrough, type Page } from './browser-agent.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { unusedUrls } from './ports.ts';
import { Secret, TOTP } from 'otpauth';
import { interactionBinding } from '../../gateway/factors/binding.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, totpDeps } from '../../gateway/factors/totp.ts';

export type TestGateway = Gateway & { db: TestDatabase; stop(): Promise<void> };

/**
 * The node URLs the seeded campus names, for tests that start no node: ports taken from the OS and
 * closed, so nothing answers there even while the demo runs on its own ports (4201, 4202).
 */
export const [ENG_NODE, ARTS_NODE] = (await unusedUrls(2)) as [string, string];

/** A gateway on a free port over its own database, seeded with the demo campus. */
export async function startTestGateway(
  label: string,
  env: Record<string, string> = {},
  options: Omit<StartOptions, 'migrate'> = {},
): Promise<TestGateway> {
  const db = await createTestDatabase(label);
  const config = loadGatewayConfig({
    GATEWAY_PORT: '0',
    GATEWAY_HOST: '127.0.0.1',
    ATRIUM_DATA_DIR: db.dataDir,
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    LOG_LEVEL: 'silent',
    // A scheduled sync a few seconds after start would race the syncs a test runs itself; the schedule's
    // own tests turn it on.
    DIRECTORY_SYNC_INTERVAL: 'off',
    ...env,
  });
  const gateway = await startGateway(config, { ...options, migrate: true });
  await seedDemo(gateway.context(null), { eng: ENG_NODE, arts: ARTS_NODE });
  return Object.assign(gateway, {
    db,
    async stop() {
      await gateway.close();
      await db.drop();
    },
  });
}

/**
 * The argon2id password verifications the gateway's process has made, as its /metrics tells them (read from
 * this machine, which /metrics answers without a token).
 */
export async function passwordVerifications(gateway: Gateway): Promise<number> {
  const text = await (await fetch(`${gateway.issuer}/metrics`)).text();
  const count = /^atrium_password_verifications_total(?:\{[^}]*\})? (\d+)$/m.exec(text)?.[1];
  if (count === undefined)
    throw new Error(`no atrium_password_verifications_total on /metrics:\n${text.slice(0, 200)}`);
  return Number(count);
}

export async function registerTestApp(gateway: Gateway, input: Record<string, unknown>): Promise<RegisteredApp> {
  return registerApp({ ...gateway.context(null), actor: operator('test') }, input);
}

/**
 * People who only need to exist (a node refuses addresses nobody has): made at once, without passwords,
 * in one unit (by default one of eng.campus.test's).
 */
export async function addPeople(gateway: Gateway, usernames: string[], unit = 'campus/eng/cs'): Promise<void> {
  const rows = usernames.map((u) => `${u},${u},${u}@people.campus.test,${unit},student`);
  await importUsers(
    { ...gateway.context(null), actor: operator('test') },
    ['username,name,email,units,roles', ...rows].join('\n'),
  );
}

/**
 * One person with a password (the demo's unless told otherwise), named "Test <username>", mail at
 * campus.test: a student of Computer Science unless told otherwise.
 */
export function addPerson(
  gateway: Gateway,
  username: string,
  options: { units?: string[]; roles?: string[]; password?: string } = {},
) {
  const { units = ['campus/eng/cs'], roles = ['student'], password = DEMO_PASSWORD } = options;
  return createUser(
    { ...gateway.context(null), actor: operator('test') },
    { username, displayName: `Test ${username}`, email: `${username}@campus.test`, password, units, roles },
  );
}

/**
 * Makes people of a campus directory that answers nobody (nothing is asked of it in the tests that use
 * this): the directory `campus-ldap` registered with `settings` (none unless told), each person linked to
 * an entry under ou=people. What a console or command does differently for such people is then seen.
 */
export async function linkToTestDirectory(
  models: GatewayModels,
  people: { id: string; username: string }[],
  settings: Record<string, unknown> = {},
): Promise<void> {
  const directory = await models.Directory.create({
    id: randomUUID(),
    name: 'campus-ldap',
    url: 'ldap://127.0.0.1:1',
    caFile: null,
    bindDn: 'cn=reader,dc=campus,dc=test',
    bindPasswordSealed: 'unused',
    settings: JSON.stringify(settings),
    resetUrl: null,
  });
  for (const person of people)
    await models.DirectoryAccount.create({
      userId: person.id,
      directoryId: directory.id,
      dn: `uid=${person.username},ou=people,dc=campus,dc=test`,
      seenRun: 'run-1',
    });
}

/**
 * A browser that has signed in to the admin console of the gateway at `issuer` (with the demo password
 * unless told otherwise), and the page the sign-in ended on: the console for an administrator, a refusal
 * or the login form again for anyone else, which is what some tests look at.
 */
export async function signInToConsole(
  issuer: string,
  username: string,
  password = DEMO_PASSWORD,
): Promise<{ agent: BrowserAgent; page: Page }> {
  const agent = new BrowserAgent();
  const page = await signInThrough(agent, `${issuer}/admin/login`, username, password);
  return { agent, page };
}

/**
 * Sets up an authenticator app for `username`, as the account page does, with a code of its key; the key
 * (base32), for tests that sign in with its codes later.
 */
export async function enrolAuthenticator(gateway: TestGateway, username: string): Promise<string> {
  const user = (await gateway.models.User.findOne({ where: { username } }))!;
  const deps = totpDeps(gateway.config.secretKey, gateway.issuer);
  const binding = interactionBinding({ uid: `test-${username}` });
  const { secret } = await beginTotpEnrolment(gateway.context(null), deps, user, binding);
  const code = TOTP.generate({ secret: Secret.fromBase32(secret) });
  await confirmTotpEnrolment(gateway.context(null), deps, user, code, binding);
  return secret;
}
