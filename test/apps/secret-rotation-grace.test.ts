import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { QueryTypes } from 'sequelize';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { utcText } from '../../core/utc-text.ts';
import { appForNode } from '../../gateway/apps-registry/app-for-node.ts';
import { rotateCallbackSecret, rotateClientSecret } from '../../gateway/apps-registry/rotate-secrets.ts';
import { sweepExpiredPayloads } from '../../gateway/oidc/adapter.ts';
import { sendCardCallback } from '../../node/cards/callback.ts';
import { CALLBACK_HEADERS, callbackSignature, sameSignature } from '../../protocol/callback-signature.ts';
import { CallbackRejected, createCallbackVerifier } from '../../protocol/verify-callback.ts';
import { filledFormWithAction, submitFilled } from '../helpers/browser-agent.ts';
import { jsonOf, runAtrium } from '../helpers/cli.ts';
import { ENG_NODE, signInToConsole, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { codeFlow, discover } from '../helpers/rp.ts';
import { asOperator, register, secretsOf } from './helpers.ts';

const REDIRECT = 'http://localhost:9/rotation-cb';
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway('rotation', { LOGIN_IP_LIMIT: '1000' });
});
afterAll(async () => gateway?.stop());

const botTokenWith = async (clientId: string, secret: string) =>
  (
    await client.clientCredentialsGrant(await discover(gateway.issuer, clientId, secret), {
      resource: ENG_NODE,
      scope: 'im',
    })
  ).access_token;
const refusedWith = (clientId: string, secret: string) =>
  expect(botTokenWith(clientId, secret)).rejects.toMatchObject({ error: 'invalid_client' });
const storedClient = async (clientId: string) => {
  const [row] = await gateway.sequelize.query<{ payload: string }>(
    "SELECT payload FROM oidc_payloads WHERE model = 'Client' AND id = ?",
    { replacements: [clientId], type: QueryTypes.SELECT },
  );
  return row!.payload;
};
const audited = (action: string, target: string) => gateway.models.AuditEvent.findAll({ where: { action, target } });
/**
 * Moves this process's clock, which the gateway's and the node's here read, past the end of a grace
 * instead of waiting it out (it goes on running from there); each test ends on the real clock again.
 */
const pastGrace = (until: string | null) => {
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
  vi.setSystemTime(Date.parse(until!) + 1000);
};
afterEach(() => {
  vi.useRealTimers();
});

describe('rotating a client secret with a grace', () => {
  it('lets the app sign in and get tokens with the old secret until the grace ends, then only with the new', async () => {
    const app = await register(gateway, { name: 'Timetable', redirectUris: [REDIRECT], botEnabled: true });
    const rotated = await rotateClientSecret(asOperator(gateway), app.slug, { graceSeconds: 600 });
    expect(Date.parse(rotated.previousSecretWorksUntil!) - Date.now()).toBeGreaterThan(590_000);

    // Within the grace: bot tokens and people's sign-ins with the old secret, and with the new.
    expect(await botTokenWith(app.clientId, app.clientSecret)).toBeTruthy();
    expect(await botTokenWith(app.clientId, rotated.clientSecret)).toBeTruthy();
    const old = await discover(gateway.issuer, app.clientId, app.clientSecret);
    const { tokens } = await codeFlow(old, REDIRECT, 'bob');
    expect(tokens.access_token).toBeTruthy();
    // Introspection authenticates the app the same way.
    expect(await client.tokenIntrospection(old, tokens.access_token)).toMatchObject({ active: true });
    // A wrong secret is no better for the grace.
    await refusedWith(app.clientId, `${app.clientSecret.slice(0, -2)}xx`);
    // The operator sees who has not switched, and until when the old one works.
    const used = await audited('app.previous_client_secret_used', app.slug);
    expect(used).toHaveLength(1);
    expect(JSON.parse(used[0]!.details!)).toMatchObject({ until: rotated.previousSecretWorksUntil });
    const rotation = await audited('app.rotate_client_secret', app.slug);
    expect(JSON.parse(rotation[0]!.details!)).toEqual({ previousSecretWorksUntil: rotated.previousSecretWorksUntil });
    // Neither secret is stored in clear.
    const stored = await storedClient(app.clientId);
    expect(stored).not.toContain(app.clientSecret);
    expect(stored).not.toContain(rotated.clientSecret);

    pastGrace(rotated.previousSecretWorksUntil);
    await refusedWith(app.clientId, app.clientSecret);
    await expect(client.tokenIntrospection(old, tokens.access_token)).rejects.toMatchObject({
      error: 'invalid_client',
    });
    expect(await botTokenWith(app.clientId, rotated.clientSecret)).toBeTruthy();
    // The sweep drops what no longer works.
    expect(await storedClient(app.clientId)).toContain('client_secret_previous_sealed');
    await sweepExpiredPayloads(gateway.models);
    expect(await storedClient(app.clientId)).not.toContain('client_secret_previous');
    expect(await botTokenWith(app.clientId, rotated.clientSecret)).toBeTruthy();
  }, 60_000);

  it('ends the old secret at once with a grace of 0, as after a leak', async () => {
    const app = await register(gateway, { name: 'Canteen', redirectUris: [REDIRECT], botEnabled: true });
    const rotated = await rotateClientSecret(asOperator(gateway), app.slug, { graceSeconds: 0 });
    expect(rotated.previousSecretWorksUntil).toBeNull();
    await refusedWith(app.clientId, app.clientSecret);
    expect(await botTokenWith(app.clientId, rotated.clientSecret)).toBeTruthy();
    expect(await storedClient(app.clientId)).not.toContain('client_secret_previous');
  });

  it('keeps the original secret working to the end of its grace when rotated again within it', async () => {
    const app = await register(gateway, { name: 'Sports', redirectUris: [REDIRECT], botEnabled: true });
    const second = await rotateClientSecret(asOperator(gateway), app.slug, { graceSeconds: 900 });
    // The secret shown once is lost: the administrator rotates again.
    const third = await rotateClientSecret(asOperator(gateway), app.slug, { graceSeconds: 3600 });
    // The running app, still on the original secret, signs people in and gets bot tokens as promised.
    expect(await botTokenWith(app.clientId, app.clientSecret)).toBeTruthy();
    const { tokens } = await codeFlow(await discover(gateway.issuer, app.clientId, app.clientSecret), REDIRECT, 'bob');
    expect(tokens.access_token).toBeTruthy();
    // Until the end first promised, not a new one.
    expect(third.previousSecretWorksUntil).toBe(second.previousSecretWorksUntil);
    expect(third.graceKept).toBe(true);
    // The secret shown in between, never confirmed in use, stops; the newest works.
    await refusedWith(app.clientId, second.clientSecret);
    expect(await botTokenWith(app.clientId, third.clientSecret)).toBeTruthy();
    const rotations = await audited('app.rotate_client_secret', app.slug);
    expect(rotations.map((r) => JSON.parse(r.details!))).toContainEqual({
      previousSecretWorksUntil: second.previousSecretWorksUntil,
      graceKept: true,
    });

    pastGrace(second.previousSecretWorksUntil);
    await refusedWith(app.clientId, app.clientSecret);
    expect(await botTokenWith(app.clientId, third.clientSecret)).toBeTruthy();
  }, 60_000);

  it('ends every earlier secret at once when rotated without a grace within another', async () => {
    const app = await register(gateway, { name: 'Chess Club', redirectUris: [REDIRECT], botEnabled: true });
    const second = await rotateClientSecret(asOperator(gateway), app.slug, { graceSeconds: 3600 });
    const third = await rotateClientSecret(asOperator(gateway), app.slug, { graceSeconds: 0 });
    expect(third.previousSecretWorksUntil).toBeNull();
    expect(third.graceKept).toBe(false);
    await refusedWith(app.clientId, app.clientSecret);
    await refusedWith(app.clientId, second.clientSecret);
    expect(await botTokenWith(app.clientId, third.clientSecret)).toBeTruthy();
  });
});

/** An app's callback endpoint: answers 204 and keeps each request's headers and raw body. */
async function callbackEndpoint(): Promise<{
  url: string;
  server: Server;
  received: { headers: IncomingMessage['headers']; body: string }[];
}> {
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`, server, received };
}

describe('rotating a callback secret with a grace', () => {
  const logger = createLogger('test', 'silent');
  const event = {
    messageId: 'm1',
    conversationId: 'c1',
    actionId: 'approve',
    user: { address: 'bob@eng.campus.test', name: 'Bob' },
    app: 'x',
  };
  /** A node's click to the app, signed as the node signs it with what the gateway tells it now. */
  const click = async (slug: string, url: string) => {
    const info = await appForNode(gateway.context(null), slug, 'eng.campus.test', secretsOf(gateway));
    await sendCardCallback(
      { ...info!, interactionCallbackUrl: url },
      { ...event, app: slug },
      {
        policy: { loopback: true },
        logger,
      },
    );
  };
  const verifies = async (
    secret: string | string[],
    request: { headers: IncomingMessage['headers']; body: string },
  ) => {
    const verify = createCallbackVerifier({ secret });
    return verify(request).then(
      () => true,
      (e: unknown) => {
        if (e instanceof CallbackRejected && e.reason === 'bad_signature') return false;
        throw e;
      },
    );
  };
  /** What a verifier of before graces does: one secret, the one signature header. */
  const verifiesAsBefore = (secret: string, request: { headers: IncomingMessage['headers']; body: string }) =>
    sameSignature(
      String(request.headers[CALLBACK_HEADERS.signature]),
      callbackSignature(secret, String(request.headers[CALLBACK_HEADERS.timestamp]), request.body),
    );

  it('has the node sign each click with both secrets until the grace ends, then with the new one alone', async () => {
    const endpoint = await callbackEndpoint();
    try {
      const app = await register(gateway, {
        name: 'Room Booking',
        redirectUris: [REDIRECT],
        botEnabled: true,
        interactionCallbackUrl: 'https://rooms.campus.example/cb',
      });
      const old = app.callbackSecret!;
      const rotated = await rotateCallbackSecret(asOperator(gateway), app.slug, secretsOf(gateway), {
        graceSeconds: 600,
      });
      expect(rotated.previousSecretWorksUntil).not.toBeNull();

      await click(app.slug, endpoint.url);
      const during = endpoint.received[0]!;
      expect(await verifies(old, during)).toBe(true);
      expect(await verifies(rotated.callbackSecret, during)).toBe(true);
      expect(await verifies([rotated.callbackSecret, old], during)).toBe(true);
      expect(await verifies('not the secret', during)).toBe(false);
      // An app still running a verifier of before, with its old secret, goes on working.
      expect(verifiesAsBefore(old, during)).toBe(true);

      pastGrace(rotated.previousSecretWorksUntil);
      await click(app.slug, endpoint.url);
      const after = endpoint.received[1]!;
      expect(await verifies(old, after)).toBe(false);
      expect(await verifies(rotated.callbackSecret, after)).toBe(true);
      expect(await verifies([rotated.callbackSecret, old], after)).toBe(true);
      expect(verifiesAsBefore(old, after)).toBe(false);
      expect(verifiesAsBefore(rotated.callbackSecret, after)).toBe(true);
    } finally {
      endpoint.server.close();
    }
  });

  it('keeps signing with the original secret when rotated again within its grace', async () => {
    const endpoint = await callbackEndpoint();
    try {
      const app = await register(gateway, {
        name: 'Locker Hire',
        redirectUris: [REDIRECT],
        botEnabled: true,
        interactionCallbackUrl: 'https://lockers.campus.example/cb',
      });
      const original = app.callbackSecret!;
      const second = await rotateCallbackSecret(asOperator(gateway), app.slug, secretsOf(gateway), {
        graceSeconds: 3600,
      });
      const third = await rotateCallbackSecret(asOperator(gateway), app.slug, secretsOf(gateway), {
        graceSeconds: 3600,
      });

      await click(app.slug, endpoint.url);
      const request = endpoint.received[0]!;
      // The app still verifying with the original secret takes the click, old verifier or new.
      expect(await verifies(original, request)).toBe(true);
      expect(verifiesAsBefore(original, request)).toBe(true);
      expect(await verifies(third.callbackSecret, request)).toBe(true);
      expect(await verifies(second.callbackSecret, request)).toBe(false);
      // Until the end first promised, not a new one.
      expect(third.previousSecretWorksUntil).toBe(second.previousSecretWorksUntil);
      expect(third.graceKept).toBe(true);
    } finally {
      endpoint.server.close();
    }
  });

  it('signs with the new secret alone at once with a grace of 0', async () => {
    const endpoint = await callbackEndpoint();
    try {
      const app = await register(gateway, {
        name: 'Lab Access',
        redirectUris: [REDIRECT],
        botEnabled: true,
        interactionCallbackUrl: 'https://lab.campus.example/cb',
      });
      const rotated = await rotateCallbackSecret(asOperator(gateway), app.slug, secretsOf(gateway), {
        graceSeconds: 0,
      });
      expect(rotated.previousSecretWorksUntil).toBeNull();
      await click(app.slug, endpoint.url);
      const request = endpoint.received[0]!;
      expect(await verifies(app.callbackSecret!, request)).toBe(false);
      expect(await verifies(rotated.callbackSecret, request)).toBe(true);
    } finally {
      endpoint.server.close();
    }
  });
});

describe('what operators are told of a rotation', () => {
  it('the CLI says until when the old secret works, or that it stopped at once, and refuses a grace it cannot read', async () => {
    const app = await register(gateway, {
      name: 'Printing',
      slug: 'printing',
      redirectUris: [REDIRECT],
      botEnabled: true,
    });
    const kept = await runAtrium(gateway.db, ['apps', 'rotate-secret', 'printing']);
    expect(kept.stdout).toMatch(
      /The old client secret keeps working until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; give the app the new one before then\./,
    );
    const until = /until (\S+ \S+) UTC/.exec(kept.stdout)![1]!;
    // A day by default.
    expect(Date.parse(`${until.replace(' ', 'T')}Z`) - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    const secret = /New client secret for printing \(client id [^)]+\): ([\w-]{43})/.exec(kept.stdout)![1]!;
    // The secret before this one still signs the app in.
    expect(await botTokenWith(app.clientId, app.clientSecret)).toBeTruthy();

    // `apps show` says until when the previous secret works.
    const show = await runAtrium(gateway.db, ['apps', 'show', 'printing']);
    expect(show.stdout).toMatch(new RegExp(`client secret: +the previous secret keeps working until ${until} UTC`));
    expect(show.stdout).not.toContain('callback secret:');

    // Rotated again within the grace (the new secret lost): the original keeps its end, as promised.
    const again = await runAtrium(gateway.db, ['apps', 'rotate-secret', 'printing', '--grace', '2h']);
    expect(again.stdout).toContain(
      `The client secret made at the last rotation stopped working now. The one before it, which the app most likely still uses, keeps working until ${until} UTC, as before; give the app the new one before then.`,
    );
    expect(await botTokenWith(app.clientId, app.clientSecret)).toBeTruthy();
    await refusedWith(app.clientId, secret);
    const shown = jsonOf(await runAtrium(gateway.db, ['apps', 'show', 'printing', '--json']));
    expect(utcText(new Date(shown.clientSecretPreviousUntil))).toBe(`${until} UTC`);
    expect(shown.callbackSecretPreviousUntil).toBeNull();

    const now = await runAtrium(gateway.db, ['apps', 'rotate-secret', 'printing', '--callback', '--grace', '0']);
    expect(now.stdout).toContain('The old callback secret stopped working at once.');

    const wrong = await runAtrium(gateway.db, ['apps', 'rotate-secret', 'printing', '--grace', 'tomorrow']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--grace expects a time such as 24h, 90m, 7d or 0 (at once), of at most 30d');
  }, 60_000);

  it('the console offers both ways and says until when the old secret works', async () => {
    const app = await register(gateway, {
      name: 'Parking',
      slug: 'parking-permits',
      redirectUris: [REDIRECT],
      botEnabled: true,
    });
    const { agent } = await signInToConsole(gateway.issuer, 'admin');
    const page = await agent.navigate(`${gateway.issuer}/admin/apps/parking-permits`);
    expect(page.html).toContain('Rotate: the old one keeps working for 24 hours');
    expect(page.html).toContain('Rotate now: the old one stops at once');
    const form = filledFormWithAction(page, '/admin/apps/parking-permits/rotate-secret');

    const kept = await submitFilled(agent, page, form, { understood: 'yes', when: 'grace' });
    const shown = /id="previous-until"[^>]*>([\s\S]*?)<\/p>/.exec(kept.html)?.[1] ?? '';
    expect(shown).toMatch(/The old client secret keeps working until <time datetime="([^"]+)"/);
    const until = /datetime="([^"]+)"/.exec(shown)![1]!;
    expect(Date.parse(until) - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    expect(await botTokenWith(app.clientId, app.clientSecret)).toBeTruthy();

    const again = await agent.navigate(`${gateway.issuer}/admin/apps/parking-permits`);
    const now = await submitFilled(
      agent,
      again,
      filledFormWithAction(again, '/admin/apps/parking-permits/rotate-secret'),
      {
        understood: 'yes',
        when: 'now',
      },
    );
    expect(now.html).toContain('The old client secret stopped working at once.');
    const newest = /data-secret="client">([\w-]{43})</.exec(now.html)![1]!;
    const previous = /data-secret="client">([\w-]{43})</.exec(kept.html)![1]!;
    await refusedWith(app.clientId, previous);
    await refusedWith(app.clientId, app.clientSecret);
    expect(await botTokenWith(app.clientId, newest)).toBeTruthy();
  }, 60_000);

  it("the app's page shows until when each previous secret works, and a second rotation keeps it", async () => {
    const app = await register(gateway, {
      name: 'Bike Racks',
      slug: 'bike-racks',
      redirectUris: [REDIRECT],
      botEnabled: true,
      interactionCallbackUrl: 'https://bikes.campus.example/cb',
    });
    const { agent } = await signInToConsole(gateway.issuer, 'admin');
    const pageUrl = `${gateway.issuer}/admin/apps/bike-racks`;
    const before = await agent.navigate(pageUrl);
    expect(before.html).not.toContain('The previous secret keeps working');

    const kept = await submitFilled(
      agent,
      before,
      filledFormWithAction(before, '/admin/apps/bike-racks/rotate-secret'),
      {
        understood: 'yes',
        when: 'grace',
      },
    );
    const until = /id="previous-until"[^>]*>[^<]*<time datetime="([^"]+)"/.exec(kept.html)![1]!;
    const lost = /data-secret="client">([\w-]{43})</.exec(kept.html)![1]!;
    const callback = await rotateCallbackSecret(asOperator(gateway), app.slug, secretsOf(gateway), {
      graceSeconds: 7200,
    });

    const during = await agent.navigate(pageUrl);
    const graceOf = (id: string) => new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</p>`).exec(during.html)?.[1] ?? '';
    expect(graceOf('client-previous-until')).toContain(
      `The previous secret keeps working until <time datetime="${until}"`,
    );
    expect(graceOf('callback-previous-until')).toContain(
      `The previous secret keeps working until <time datetime="${callback.previousSecretWorksUntil}"`,
    );

    // The secret shown once was lost: rotated again from the console.
    const again = await submitFilled(
      agent,
      during,
      filledFormWithAction(during, '/admin/apps/bike-racks/rotate-secret'),
      {
        understood: 'yes',
        when: 'grace',
      },
    );
    const said = /id="previous-until"[^>]*>([\s\S]*?)<\/p>/.exec(again.html)?.[1] ?? '';
    expect(said).toContain('The client secret made at the last rotation stopped working now.');
    expect(said).toContain(`keeps working until <time datetime="${until}"`);
    expect(await botTokenWith(app.clientId, app.clientSecret)).toBeTruthy();
    await refusedWith(app.clientId, lost);
    const newest = /data-secret="client">([\w-]{43})</.exec(again.html)![1]!;
    expect(await botTokenWith(app.clientId, newest)).toBeTruthy();
    const after = await agent.navigate(pageUrl);
    expect(after.html).toMatch(
      new RegExp(`id="client-previous-until"[^>]*>The previous secret keeps working until <time datetime="${until}"`),
    );
  }, 60_000);
});
