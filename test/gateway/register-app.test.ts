import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { ValidationError } from '../../core/errors.ts';
import { operator } from '../../gateway/context.ts';
import { domainToUnicode } from 'node:url';
import { updateApp } from '../../gateway/apps-registry/update-app.ts';
import { unitSegment } from '../../gateway/directories/unit-of-entry.ts';
import { appSlugPattern } from '../../protocol/address.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway('apps');
});
afterAll(async () => gateway?.stop());

describe('registering an app', () => {
  it('refuses bad redirect URIs field by field and registers nothing', async () => {
    const attempt = registerTestApp(gateway, {
      name: 'Bad app',
      redirectUris: [
        'not a url',
        'http://apps.campus.example/cb',
        'https://*.campus.example/cb',
        'https://ok.campus.example/cb#frag',
      ],
    });
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    const fields = await attempt.catch((e: ValidationError) => e.fields);
    expect(fields).toMatchObject({
      'redirectUris.0': expect.any(String),
      'redirectUris.1': 'must use https (http is allowed only for localhost)',
      'redirectUris.2': 'wildcards are not allowed',
      'redirectUris.3': 'must not contain a #fragment',
    });
    expect(await gateway.models.App.count()).toBe(0);
  });

  it('says every problem at once: the fields the form checks, and the units, slug and client id in use', async () => {
    const attempt = registerTestApp(gateway, {
      name: 'Lab',
      slug: 'alice',
      clientId: 'atrium-admin',
      redirectUris: ['http://lab.campus.example/cb'],
      ownerUnit: 'campus/eng',
      visibility: { units: ['campus/nope', 'campus/nope2', 'campus/arts'], roles: ['wizard'] },
    });
    const fields = await attempt.catch((e: ValidationError) => e.fields);
    expect(fields).toEqual({
      'redirectUris.0': 'must use https (http is allowed only for localhost)',
      'visibility.roles.0': 'one of student, staff, admin, unit-admin',
      'visibility.units':
        'unknown unit campus/nope, campus/nope2; must lie within the owner unit campus/eng: campus/arts',
      slug: 'a person has this username',
      clientId: 'client id atrium-admin is taken',
    });
    expect(await gateway.models.App.count()).toBe(0);
  });

  it('refuses a name an app shown to some of the same people has, and says when a slug is not the name’s', async () => {
    const app = (name: string, more: Record<string, unknown> = {}) =>
      registerTestApp(gateway, { name, redirectUris: ['https://lab.campus.example/cb'], ...more });
    const nameRefused = (attempt: Promise<unknown>) => attempt.catch((e: ValidationError) => e.fields.name);
    const said = 'app printing has this name and is shown to some of the same people; choose another name';

    const first = await app('Printing', { ownerUnit: 'campus/eng', visibility: { roles: ['staff'] } });
    expect(first.slugTaken).toBeNull();
    // Campus-wide, or in a unit below with a role in common: some people would see two "Printing"s.
    expect(await nameRefused(app(' printing '))).toBe(said);
    expect(await nameRefused(app('Printing', { visibility: { units: ['campus/eng/cs'] } }))).toBe(said);
    // Another college's, or the same college's for other roles, is told apart by whom it is shown to.
    const arts = await app('Printing', { ownerUnit: 'campus/arts' });
    expect(arts.slug).toBe('printing-2');
    expect(arts.slugTaken).toEqual({ slug: 'printing', reason: 'another app has this slug' });
    const students = await app('Printing', { ownerUnit: 'campus/eng', visibility: { roles: ['student'] } });
    // Nor may an edit make one of two: a new name, or new people to show it to.
    const actor = { ...gateway.context(null), actor: operator('test') };
    await expect(nameRefused(updateApp(actor, students.slug, { visibility: { units: [], roles: [] } }))).resolves.toBe(
      said,
    );
    const other = await app('Copying', { ownerUnit: 'campus/eng' });
    await expect(nameRefused(updateApp(actor, other.slug, { name: 'PRINTING' }))).resolves.toBe(said);
    expect((await gateway.models.App.findOne({ where: { slug: other.slug } }))!.name).toBe('Copying');
    // A person's username is a slug's too: the app gets the next one, and is told why.
    expect((await app('Alice')).slugTaken).toEqual({ slug: 'alice', reason: 'a person has this username' });
  });

  it('makes a slug of an accented name without splitting its words, and leaves a slug made before as it is', async () => {
    const app = (name: string, more: Record<string, unknown> = {}) =>
      registerTestApp(gateway, { name, redirectUris: ['https://books.campus.example/cb'], ...more });
    // An app registered before, whose slug split the word: its bot keeps that address, renamed or not.
    const older = await app('Bibliothèque', { slug: 'bibliothe-que', ownerUnit: 'campus/arts' });
    await updateApp({ ...gateway.context(null), actor: operator('test') }, older.slug, {
      name: 'Bibliothèque des arts',
    });
    expect((await gateway.models.App.findOne({ where: { id: older.app.id } }))!.slug).toBe('bibliothe-que');
    expect((await app('Bibliothèque 📚', { ownerUnit: 'campus/eng' })).slug).toBe('bibliotheque');
    expect((await app('Résumé Clinic')).slug).toBe('resume-clinic');
    expect((await app('Straße Ærø Łódź')).slug).toBe('strasse-aero-lodz');
    expect((await app('Ångström Lab')).slug).toBe('angstrom-lab');
  });

  it('spells a name in other scripts as a unit path does, xn-- and Punycode, within the slug rules', async () => {
    const app = (name: string, more: Record<string, unknown> = {}) =>
      registerTestApp(gateway, { name, redirectUris: ['https://scripts.campus.example/cb'], ...more });
    // Registered before, when such a name lost its letters: the slug stays, renamed or not.
    const older = await app('中文', { slug: 'app-x', ownerUnit: 'campus/arts' });
    await updateApp({ ...gateway.context(null), actor: operator('test') }, older.slug, { name: '中文写作' });
    expect((await gateway.models.App.findOne({ where: { id: older.app.id } }))!.slug).toBe('app-x');

    const chinese = await app('中文', { ownerUnit: 'campus/eng' });
    expect(chinese.slug).toBe(unitSegment('中文'));
    expect(domainToUnicode(chinese.slug)).toBe('中文');
    expect((await app('Физика')).slug).toBe('xn--80ancbk0d');
    expect((await app('Physics 物理')).slug).toBe(unitSegment('Physics 物理'));
    expect((await app('Straße und Verkehr')).slug).toBe('strasse-und-verkehr');
    const long = '東京大学図書館の貸出と返却を管理するためのアプリケーション';
    const first = await app(long, { ownerUnit: 'campus/arts' });
    expect(first.slug.length).toBeLessThanOrEqual(36);
    expect(first.slug).toMatch(/^xn--/);
    const second = await app(long, { ownerUnit: 'campus/eng' });
    expect(second.slug).toBe(`${first.slug}-2`);
    for (const slug of [chinese.slug, first.slug, second.slug]) expect(slug).toMatch(appSlugPattern);
  });
});
