import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerTestApp, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { ValidationError } from '../../core/errors.ts';

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
});
