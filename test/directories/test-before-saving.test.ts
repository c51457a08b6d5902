import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filledFormWithAction, mainText, submitFilled, type BrowserAgent } from '../helpers/browser-agent.ts';
import { runAtrium } from '../helpers/cli.ts';
import { signInToConsole, type TestGateway } from '../helpers/gateway.ts';
import { inetOrgPerson, PEOPLE, SERVICE_PASSWORD, startTestSlapd, type TestSlapd } from '../helpers/slapd.ts';
import { bindPasswordSealer } from '../../gateway/directories/secrets.ts';
import { directorySettingsOf } from '../../gateway/directories/settings.ts';
import { alertOf, register, startSignInGateway, sync, type SignInGateway } from './fixtures.ts';

let signIn: SignInGateway;
let gateway: TestGateway;
let ldap: TestSlapd;
let admin: BrowserAgent;

const row = (name: string) => gateway.models.Directory.findOne({ where: { name } });
const sealedPassword = async (name: string) =>
  bindPasswordSealer(gateway.config.secretKey).open((await row(name))!.bindPasswordSealed);

beforeAll(async () => {
  signIn = await startSignInGateway('dir-test-before-saving', 'Checked App', 5);
  gateway = signIn.gateway as TestGateway;
  ldap = await startTestSlapd({ ldif: inetOrgPerson({ uid: 'tess', name: 'Tess Tan', password: 'tess-pw' }) });
  await register(gateway, 'checked', ldap.url);
  await sync(gateway, 'checked');
  admin = (await signInToConsole(gateway.issuer, 'admin')).agent;
});
afterAll(async () => {
  await ldap?.stop();
  await gateway?.stop();
});

describe('an update that breaks the connection', () => {
  it('is refused on the command line, saying why, unless --no-test', async () => {
    const args = ['directories', 'update', 'checked', '--bind-password-stdin'];
    const refused = await runAtrium(gateway.db, args, { stdin: 'a-wrong-password\n' });
    expect(refused.code).toBe(2);
    const said = refused.stdout + refused.stderr;
    expect(said).toContain('Not saved: directory checked does not work with these settings');
    expect(said).toContain("the directory refused the service account: the service account's DN or password is wrong");
    expect(said).toContain('--no-test');
    expect(await sealedPassword('checked')).toBe(SERVICE_PASSWORD);
    const forced = await runAtrium(gateway.db, [...args, '--no-test'], { stdin: 'a-wrong-password\n' });
    expect(forced.code).toBe(0);
    expect(await sealedPassword('checked')).toBe('a-wrong-password');
  });

  it('tells a person signing in that directory sign-in is not working and IT was told, not to try again', async () => {
    const page = await signIn.attempt('tess', 'tess-pw');
    expect(alertOf(page)).toContain('Sign-in through the campus directory is not working right now');
    expect(alertOf(page)).toContain('IT has been told');
    expect(alertOf(page)).not.toContain('Try again in a minute');
    const fixed = await runAtrium(gateway.db, ['directories', 'update', 'checked', '--bind-password-stdin'], {
      stdin: `${SERVICE_PASSWORD}\n`,
    });
    expect(fixed.code).toBe(0);
  });

  it('is refused in the console with the reason at its field, unless saved without testing', async () => {
    const path = '/admin/directories/checked';
    const form = await admin.navigate(`${gateway.issuer}${path}`);
    const misspelt = `ou=Peple,${PEOPLE.split(',').slice(1).join(',')}`;
    const refused = await submitFilled(admin, form, filledFormWithAction(form, path), { userBase: misspelt });
    expect(refused.status).toBe(400);
    // The reason at its field (the page writes "=" as an entity).
    expect(refused.html).toContain('id="userBase-error">the directory has no entry ou&#x3D;Peple,dc&#x3D;campus');
    expect(mainText(refused)).toContain('Not saved: directory checked does not work with these settings');
    expect(directorySettingsOf((await row('checked'))!).userBase).toBe(PEOPLE);
    const again = await admin.navigate(`${gateway.issuer}${path}`);
    const saved = await submitFilled(admin, again, filledFormWithAction(again, path), {
      userBase: misspelt,
      saveUntested: 'on',
    });
    expect(saved.url).toBe(`${gateway.issuer}${path}`);
    expect(directorySettingsOf((await row('checked'))!).userBase).toBe(misspelt);
  });
});
