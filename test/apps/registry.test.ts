import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { QueryTypes } from 'sequelize';
import { decodeJwt } from 'jose';
import { ForbiddenError, NotFoundError, ValidationError, ConflictError } from '../../core/errors.ts';
import { deleteApp } from '../../gateway/apps-registry/delete-app.ts';
import { getApp, listApps } from '../../gateway/apps-registry/list-apps.ts';
import { rotateCallbackSecret, rotateClientSecret } from '../../gateway/apps-registry/rotate-secrets.ts';
import { setAppDisabled } from '../../gateway/apps-registry/set-app-disabled.ts';
import { updateApp } from '../../gateway/apps-registry/update-app.ts';
import { appForNode } from '../../gateway/apps-registry/app-for-node.ts';
import { createUser } from '../../gateway/accounts/create-user.ts';
import { addressNameProblems } from '../../gateway/accounts/reserved-names.ts';
import { ENG_NODE, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { actingAs, asOperator, register, secretsOf } from './helpers.ts';

const REDIRECT = 'http://localhost:9/library-cb';
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway('registry', { LOGIN_IP_LIMIT: '1000' });
});
afterAll(async () => gateway?.stop());

const fieldsOf = (attempt: Promise<unknown>) =>
  attempt.then(
    () => ({}),
    (e: ValidationError) => e.fields,
  );
const audited = (action: string, target: string) => gateway.models.AuditEvent.findAll({ where: { action, target } });
/** An app's OIDC client as the database holds it: what a backup, or anyone reading the database, sees. */
const storedClient = async (clientId: string) => {
  const [row] = await gateway.sequelize.query<{ payload: string }>(
    "SELECT payload FROM oidc_payloads WHERE model = 'Client' AND id = ?",
    { replacements: [clientId], type: QueryTypes.SELECT },
  );
  return row!.payload;
};

describe('registering an app', () => {
  it('creates an OIDC client that a relying party signs in through, with the settings it was given', async () => {
    const registered = await register(gateway, {
      name: 'Library',
      slug: 'library',
      icon: '📚',
      description: 'Loans and reservations',
      homeUrl: 'https://library.campus.example/',
      redirectUris: [REDIRECT],
      postLogoutRedirectUris: ['https://library.campus.example/bye'],
      backchannelLogoutUri: 'https://library.campus.example/backchannel',
      interactionCallbackUrl: 'https://library.campus.example/atrium/callback',
      visibility: { units: ['campus/eng'], roles: ['student'] },
      firstParty: true,
    });
    expect(registered).toMatchObject({
      slug: 'library',
      name: 'Library',
      clientId: expect.stringMatching(/^app-[0-9a-f]{8}$/),
    });
    expect(registered.clientSecret).toMatch(/^[\w-]{43}$/);
    expect(registered.callbackSecret).toMatch(/^[\w-]{43}$/);
    expect(registered.app).toMatchObject({
      icon: '📚',
      homeUrl: 'https://library.campus.example/',
      redirectUris: [REDIRECT],
      backchannelLogoutUri: 'https://library.campus.example/backchannel',
      visibility: { units: ['campus/eng'], roles: ['student'] },
      firstParty: true,
      botEnabled: false,
      disabled: false,
      hasCallbackSecret: true,
    });
    expect(JSON.stringify(registered.app)).not.toContain(registered.clientSecret);

    const rp = await discover(gateway.issuer, registered.clientId, registered.clientSecret);
    const { tokens } = await codeFlow(rp, REDIRECT, 'alice');
    expect(tokens.claims()).toMatchObject({ preferred_username: 'alice', aud: registered.clientId });
    const info = await client.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
    expect(info.org_units).toEqual(['campus/eng/cs']);

    // The client secret is sealed at rest, yet signs the app in (above).
    expect(await storedClient(registered.clientId)).not.toContain(registered.clientSecret);
    expect(JSON.parse(await storedClient(registered.clientId))).not.toHaveProperty('client_secret');
    // So is the callback secret, and nodes get it back over their signed lookup.
    const row = await gateway.models.App.findOne({ where: { slug: 'library' } });
    expect(row!.callbackSecretSealed).not.toContain(registered.callbackSecret!);
    expect(
      (await appForNode(gateway.context(null), 'library', 'eng.campus.test', secretsOf(gateway)))?.callbackSecret,
    ).toBe(registered.callbackSecret);
    expect(await audited('app.register', 'library')).toHaveLength(1);
  });

  it('refuses bad input field by field and stores nothing', async () => {
    const before = await gateway.models.App.count();
    const fields = await fieldsOf(
      register(gateway, {
        name: '  ',
        slug: '-Bad Slug-',
        icon: 'a very long text that is no icon',
        homeUrl: 'http://apps.campus.example/',
        redirectUris: ['not a url', 'https://*.campus.example/cb', 'https://ok.campus.example/cb#frag'],
        backchannelLogoutUri: 'ftp://campus.example/x',
        interactionCallbackUrl: 'http://10.0.0.5/callback',
        visibility: { units: ['Not A Path'], roles: ['wizard'] },
      }),
    );
    expect(fields).toMatchObject({
      name: 'required',
      slug: expect.stringContaining('lowercase letters'),
      icon: expect.stringContaining('emoji'),
      homeUrl: 'must use https (http is allowed only for localhost)',
      'redirectUris.0': 'an absolute URL',
      'redirectUris.1': 'wildcards are not allowed',
      'redirectUris.2': 'must not contain a #fragment',
      backchannelLogoutUri: 'must use https (http is allowed only for localhost)',
      interactionCallbackUrl: 'must use https (http is allowed only for localhost)',
      'visibility.units.0': expect.stringContaining('path'),
      'visibility.roles.0': expect.stringContaining('one of'),
    });
    expect(await fieldsOf(register(gateway, { name: 'No redirect', redirectUris: [] }))).toEqual({
      redirectUris: 'at least one redirect URI',
    });
    expect(await fieldsOf(register(gateway, { name: 'Webhooks', slug: 'hook-x', redirectUris: [REDIRECT] }))).toEqual({
      slug: '"hook-" is reserved: it names webhook senders in conversations',
    });
    expect(
      await fieldsOf(register(gateway, { name: 'Icon', icon: 'javascript:alert(1)', redirectUris: [REDIRECT] })),
    ).toMatchObject({ icon: expect.stringContaining('icon URL') });
    // A slug is a bot address: it may be neither another app's nor a person's username.
    expect(await fieldsOf(register(gateway, { name: 'Alice bot', slug: 'alice', redirectUris: [REDIRECT] }))).toEqual({
      slug: 'a person has this username',
    });
    expect(await fieldsOf(register(gateway, { name: 'Library 2', slug: 'library', redirectUris: [REDIRECT] }))).toEqual(
      { slug: 'another app has this slug' },
    );
    expect(
      await fieldsOf(register(gateway, { name: 'Console', clientId: 'atrium-admin', redirectUris: [REDIRECT] })),
    ).toEqual({ clientId: 'client id atrium-admin is taken' });
    expect(
      await fieldsOf(register(gateway, { name: 'Ghost unit', ownerUnit: 'campus/nowhere', redirectUris: [REDIRECT] })),
    ).toEqual({ ownerUnit: 'unknown unit campus/nowhere' });
    expect(
      await fieldsOf(
        register(gateway, {
          name: 'Escaping',
          ownerUnit: 'campus/eng',
          visibility: { units: ['campus/arts'] },
          redirectUris: [REDIRECT],
        }),
      ),
    ).toEqual({
      'visibility.units': 'must lie within the owner unit campus/eng: campus/arts',
    });
    expect(await gateway.models.App.count()).toBe(before);
    // And a person cannot later take an app's slug as a username.
    await expect(
      createUser(asOperator(gateway), {
        username: 'library',
        displayName: 'L',
        email: 'l@campus.test',
        units: ['campus/eng'],
        roles: ['student'],
      }),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it('keeps people and apps in one namespace of addresses, with the names Atrium keeps for itself', async () => {
    const newPerson = (username: string) =>
      createUser(asOperator(gateway), {
        username,
        displayName: 'N',
        email: `${username}@names.test`,
        units: ['campus/eng'],
        roles: ['student'],
      });
    // A webhook speaks as hook-<id>@domain, and a node acts as system@domain for another domain.
    for (const username of ['hook-5f2c', 'HOOK-x', 'system', 'atrium']) {
      const fields = await fieldsOf(newPerson(username));
      expect((fields as Record<string, string>).username, username).toMatch(/is reserved/);
    }
    expect(await fieldsOf(register(gateway, { name: 'Sys', slug: 'system', redirectUris: [REDIRECT] }))).toEqual({
      slug: '"system" is reserved for Atrium itself',
    });
    // A slug made from the name steps around reserved names instead of failing.
    expect((await register(gateway, { name: 'System', redirectUris: [REDIRECT] })).slug).toBe('app-system');
    expect((await register(gateway, { name: 'Hook Lab', redirectUris: [REDIRECT] })).slug).toBe('app-hook-lab');

    // A deleted app's bot address stays taken for people too: its conversations remain on the nodes.
    const gone = await register(gateway, { name: 'Old Poll', slug: 'old-poll', redirectUris: [REDIRECT] });
    await deleteApp(asOperator(gateway), gone.slug);
    await expect(newPerson('old-poll')).rejects.toThrow(/deleted app/);
    expect(
      await gateway.models.User.count({ where: { username: ['hook-5f2c', 'system', 'atrium', 'old-poll'] } }),
    ).toBe(0);

    // The one check the CLI, the console, the import and the directory sync share.
    const problems = await addressNameProblems(asOperator(gateway), [
      'hook-1',
      'system',
      'alice',
      'app-system',
      'old-poll',
      'free-name',
    ]);
    expect(Object.fromEntries([...problems].map(([name, p]) => [name, p.kind]))).toEqual({
      'hook-1': 'reserved',
      system: 'reserved',
      alice: 'person',
      'app-system': 'app',
      'old-poll': 'deleted-app',
    });
  });

  it('makes a slug from the name when none is given, and keeps it free of clashes', async () => {
    const a = await register(gateway, { name: 'Course Survey!', redirectUris: [REDIRECT] });
    const b = await register(gateway, { name: 'Course survey', redirectUris: [REDIRECT] });
    expect([a.slug, b.slug]).toEqual(['course-survey', 'course-survey-2']);
  });
});

describe('a unit admin', () => {
  it('registers apps only for their own unit, and manages only those', async () => {
    const engAdmin = await actingAs(gateway, 'eng-admin');
    const own = await register(
      gateway,
      { name: 'EE Lab booking', redirectUris: [REDIRECT], visibility: { units: ['campus/eng/ee'] } },
      engAdmin,
    );
    expect(own.app.ownerUnit).toBe('campus/eng');
    await expect(
      register(gateway, { name: 'Music rooms', ownerUnit: 'campus/arts', redirectUris: [REDIRECT] }, engAdmin),
    ).rejects.toBeInstanceOf(ForbiddenError);

    const artsApp = await register(gateway, { name: 'Gallery', ownerUnit: 'campus/arts', redirectUris: [REDIRECT] });
    const campusWide = await register(gateway, { name: 'Mail', redirectUris: [REDIRECT] });
    const visible = (await listApps(engAdmin)).map((a) => a.slug);
    expect(visible).toContain(own.slug);
    expect(visible).not.toContain(artsApp.slug);
    expect(visible).not.toContain(campusWide.slug);
    await expect(updateApp(engAdmin, artsApp.slug, { name: 'Mine now' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(setAppDisabled(engAdmin, campusWide.slug, true)).rejects.toBeInstanceOf(NotFoundError);
    await expect(deleteApp(engAdmin, artsApp.slug)).rejects.toBeInstanceOf(NotFoundError);
    // Nor may they move their app out of their units, or make it campus-wide.
    await expect(updateApp(engAdmin, own.slug, { ownerUnit: 'campus/arts' })).rejects.toBeInstanceOf(ForbiddenError);
    expect((await updateApp(engAdmin, own.slug, { ownerUnit: null })).ownerUnit).toBe('campus/eng');
    expect((await updateApp(engAdmin, own.slug, { description: 'Book the EE labs' })).description).toBe(
      'Book the EE labs',
    );

    // Students manage nothing.
    await expect(
      register(gateway, { name: 'Mine', redirectUris: [REDIRECT] }, await actingAs(gateway, 'alice')),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('cannot point the calls the servers make at a link-local, unspecified or multicast address', async () => {
    const engAdmin = await actingAs(gateway, 'eng-admin');
    const before = await gateway.models.App.count();
    const metadata = {
      name: 'Metadata reader',
      redirectUris: [REDIRECT],
      interactionCallbackUrl: 'https://169.254.169.254/latest/meta-data/',
      backchannelLogoutUri: 'https://[fe80::1]/logout',
      botEnabled: true,
    };
    const linkLocal = expect.stringContaining('must not point at a link-local address');
    expect(await fieldsOf(register(gateway, metadata, engAdmin))).toEqual({
      interactionCallbackUrl: linkLocal,
      backchannelLogoutUri: linkLocal,
    });
    expect(await gateway.models.App.count()).toBe(before);

    // Campus addresses are where apps live, and this gateway (outside production) calls this machine too.
    const own = await register(
      gateway,
      { ...metadata, interactionCallbackUrl: 'https://10.0.0.5/callback', backchannelLogoutUri: undefined },
      engAdmin,
    );
    expect(own.app.interactionCallbackUrl).toBe('https://10.0.0.5/callback');
    expect(
      await fieldsOf(
        updateApp(engAdmin, own.slug, {
          interactionCallbackUrl: 'https://0.0.0.0:4000/atrium/callback',
          backchannelLogoutUri: 'https://[ff02::1]/logout',
        }),
      ),
    ).toEqual({
      interactionCallbackUrl: expect.stringContaining('must not point at an unspecified address'),
      backchannelLogoutUri: expect.stringContaining('must not point at a multicast address'),
    });
    expect((await getApp(engAdmin, own.slug)).interactionCallbackUrl).toBe('https://10.0.0.5/callback');
    const local = await updateApp(engAdmin, own.slug, { interactionCallbackUrl: 'http://127.0.0.1:9/callback' });
    expect(local.interactionCallbackUrl).toBe('http://127.0.0.1:9/callback');
  });
});

describe('changing an app', () => {
  it('keeps the OIDC client in step with the registry, and audits every change', async () => {
    const app = await register(gateway, { name: 'Timetable', redirectUris: [REDIRECT] });
    const rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
    const moved = 'http://localhost:9/timetable-cb';
    const updated = await updateApp(asOperator(gateway), app.slug, {
      redirectUris: [moved],
      firstParty: true,
      homeUrl: 'https://timetable.campus.example/',
    });
    expect(updated).toMatchObject({ redirectUris: [moved], firstParty: true });
    await expect(codeFlow(rp, REDIRECT, 'dave')).rejects.toThrow();
    const { tokens } = await codeFlow(rp, moved, 'dave', { prompt: 'login' });
    expect(tokens.claims()!.preferred_username).toBe('dave');

    const [line] = await audited('app.update', app.slug);
    expect(JSON.parse(line!.details!)).toMatchObject({
      redirectUris: { from: [REDIRECT], to: [moved] },
      firstParty: { from: false, to: true },
    });
  });

  it("stops a disabled app's client at once and brings it back when enabled", async () => {
    const app = await register(gateway, { name: 'Printing', redirectUris: [REDIRECT], botEnabled: true });
    const rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
    expect((await client.clientCredentialsGrant(rp, { resource: ENG_NODE, scope: 'im' })).access_token).toBeTruthy();
    await setAppDisabled(asOperator(gateway), app.slug, true);
    await expect(client.clientCredentialsGrant(rp, { resource: ENG_NODE, scope: 'im' })).rejects.toMatchObject({
      error: 'invalid_client',
    });
    await expect(codeFlow(rp, REDIRECT, 'alice')).rejects.toThrow();
    await setAppDisabled(asOperator(gateway), app.slug, false);
    expect((await client.clientCredentialsGrant(rp, { resource: ENG_NODE, scope: 'im' })).access_token).toBeTruthy();
    expect((await audited('app.disable', app.slug)).length).toBe(1);
    expect((await audited('app.enable', app.slug)).length).toBe(1);
  });

  it('rotates the client secret (the old one stops working) and the callback secret', async () => {
    const app = await register(gateway, { name: 'Wiki', redirectUris: [REDIRECT], botEnabled: true });
    const { clientSecret } = await rotateClientSecret(asOperator(gateway), app.slug);
    expect(clientSecret).not.toBe(app.clientSecret);
    const old = await discover(gateway.issuer, app.clientId, app.clientSecret);
    await expect(client.clientCredentialsGrant(old, { resource: ENG_NODE, scope: 'im' })).rejects.toMatchObject({
      error: 'invalid_client',
    });
    const fresh = await discover(gateway.issuer, app.clientId, clientSecret);
    expect((await client.clientCredentialsGrant(fresh, { resource: ENG_NODE, scope: 'im' })).access_token).toBeTruthy();
    expect(await storedClient(app.clientId)).not.toContain(clientSecret);

    const { callbackSecret } = await rotateCallbackSecret(asOperator(gateway), app.slug, secretsOf(gateway));
    expect(callbackSecret).not.toBe(app.callbackSecret);
    expect(
      (await appForNode(gateway.context(null), app.slug, 'eng.campus.test', secretsOf(gateway)))?.callbackSecret,
    ).toBe(callbackSecret);
    expect((await audited('app.rotate_client_secret', app.slug)).length).toBe(1);
    expect((await audited('app.rotate_callback_secret', app.slug)).length).toBe(1);
  });

  it('deletes the app with its client and every grant and token issued to it', async () => {
    const app = await register(gateway, { name: 'Old forum', redirectUris: [REDIRECT], firstParty: true });
    const rp = await discover(gateway.issuer, app.clientId, app.clientSecret);
    const { tokens } = await codeFlow(rp, REDIRECT, 'bob');
    const issued = async () =>
      (await gateway.models.OidcPayload.findAll()).filter(
        (r) => r.payload.includes(`"clientId":"${app.clientId}"`) && r.model !== 'Session',
      );
    expect((await issued()).length).toBeGreaterThan(0);
    const result = await deleteApp(asOperator(gateway), app.slug);
    expect(result.revoked).toBeGreaterThan(0);
    expect(await issued()).toEqual([]);
    expect(await gateway.models.OidcPayload.findOne({ where: { model: 'Client', id: app.clientId } })).toBeNull();
    await expect(getApp(asOperator(gateway), app.slug)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_client',
    });
    expect((await audited('app.delete', app.slug)).length).toBe(1);
    // Its slug is not handed to another app: the old bot's conversations are still on the nodes.
    expect(await fieldsOf(register(gateway, { name: 'New forum', slug: app.slug, redirectUris: [REDIRECT] }))).toEqual({
      slug: "a deleted app had this slug; its bot's conversations remain",
    });
    expect((await register(gateway, { name: 'Old forum', redirectUris: [REDIRECT] })).slug).toBe('old-forum-2');
  });
});

describe('bot tokens', () => {
  it('are refused for a node to an app without a bot, and carry the bot claims when it has one', async () => {
    const plain = await register(gateway, { name: 'No bot', redirectUris: [REDIRECT] });
    const plainRp = await discover(gateway.issuer, plain.clientId, plain.clientSecret);
    await expect(client.clientCredentialsGrant(plainRp, { resource: ENG_NODE, scope: 'im' })).rejects.toMatchObject({
      error: 'invalid_target',
    });

    const bot = await register(gateway, {
      name: 'Helpdesk',
      slug: 'helpdesk',
      redirectUris: [REDIRECT],
      botEnabled: true,
    });
    const botRp = await discover(gateway.issuer, bot.clientId, bot.clientSecret);
    const payload = decodeJwt(
      (await client.clientCredentialsGrant(botRp, { resource: ENG_NODE, scope: 'im' })).access_token,
    );
    expect(payload).toMatchObject({
      aud: ENG_NODE,
      sub: bot.clientId,
      client_id: bot.clientId,
      app_slug: 'helpdesk',
      app_name: 'Helpdesk',
      bot: true,
      scope: 'im',
    });

    await updateApp(asOperator(gateway), 'helpdesk', { botEnabled: false });
    await expect(client.clientCredentialsGrant(botRp, { resource: ENG_NODE, scope: 'im' })).rejects.toMatchObject({
      error: 'invalid_target',
    });
  });
});
