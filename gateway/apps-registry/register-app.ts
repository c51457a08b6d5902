import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { ValidationError, type FieldErrors } from '../../core/errors.ts';
import type { Sealer } from '../../core/seal.ts';
import { nameLabel } from '../../core/name-label.ts';
import { fieldErrorsOf, refusalMessage } from '../../core/validate.ts';
import { addressNameProblem, reservedNameProblem } from '../accounts/reserved-names.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { inTransaction } from '../transaction.ts';
import { assertCallableUrls } from './callable-urls.ts';
import { assertMayBeFirstParty, onlyUnitProblems, resolveOwnerUnit, unitProblems, unitsRefusal } from './app-scope.ts';
import { clientMetadataOf, saveClient, sealedClientSecret } from './client-metadata.ts';
import { auditedFields, presentApp, type PresentedApp } from './present-app.ts';
import { sameNameProblem } from './same-name.ts';
import { newAppSchema, visibilitySchema, type NewApp } from './schemas.ts';
import { newSecret } from './secrets.ts';

export { appUrlSchema, newAppSchema } from './schemas.ts';

/** A slug made from the name that was taken, so the app got a numbered one: the slug wanted, and why not. */
export type TakenSlug = { slug: string; reason: string };

/** What registering returns: the app, and its secrets, which are shown this once and never again. */
export type RegisteredApp = {
  id: string;
  slug: string;
  clientId: string;
  name: string;
  clientSecret: string;
  /** Present when the registry was given the sealer for callback secrets. */
  callbackSecret?: string;
  /** Set when the slug made from the name was taken and the app got the next free one (`-2`, `-3`…). */
  slugTaken: TakenSlug | null;
  app: PresentedApp;
};

/**
 * The longest slug made from a name: room is left for the `-2` … `-99` of a taken one within
 * appSlugPattern's 40 characters.
 */
const NAME_SLUG_MAX = 36;

/**
 * A slug from the app's name, for callers that did not choose one, made as a unit path's segment is
 * (nameLabel): the name folded as a search folds it ("Leave Approval" → leave-approval, "Bibliothèque" →
 * bibliotheque, "Straße" → strasse), and a name with letters beyond a–z spelled as IDNA spells a domain
 * label ("中文" → xn--fiq228c, "Physics 物理" → xn--physics--1i8s82k), so that no letter is lost and two
 * such names do not both become app-x. Only new slugs are made here: an app keeps its slug, its bot's
 * address in conversations already held.
 */
export function slugFromName(name: string): string {
  const base = nameLabel(name, NAME_SLUG_MAX) ?? '';
  const slug = base.length >= 2 ? base : `app-${base || 'x'}`;
  return reservedNameProblem(slug) ? `app-${slug}`.slice(0, NAME_SLUG_MAX) : slug;
}

/**
 * The slug must name neither another app nor a person: on a node both would be the same address. Nor a
 * deleted app's: its bot's conversations stay on the nodes, and a new bot of that name would read them.
 */
async function slugClash(ctx: GatewayContext, slug: string): Promise<string | null> {
  const problem = await addressNameProblem(ctx, slug);
  if (!problem) return null;
  if (problem.kind === 'app') return 'another app has this slug';
  if (problem.kind === 'deleted-app') return "a deleted app had this slug; its bot's conversations remain";
  return problem.reason;
}

/** The slug made from the name, or the next free one after it (said, with why the first was taken). */
async function freeSlugFrom(ctx: GatewayContext, name: string): Promise<{ slug: string; taken: TakenSlug | null }> {
  const base = slugFromName(name);
  const reason = await slugClash(ctx, base);
  if (!reason) return { slug: base, taken: null };
  const taken = { slug: base, reason };
  for (let n = 2; n < 100; n++) {
    const candidate = `${base}-${n}`;
    if (!(await slugClash(ctx, candidate))) return { slug: candidate, taken };
  }
  return { slug: `${base}-${randomUUID().slice(0, 8)}`, taken };
}

/** Keeps field errors with the others: the first said of a field stays. */
function keep(fields: FieldErrors, more: FieldErrors): void {
  for (const [field, message] of Object.entries(more)) fields[field] ??= message;
}

/** Runs a check, keeping its field errors with the others (undefined then); any other refusal is thrown. */
async function collect<T>(fields: FieldErrors, check: () => T | Promise<T>): Promise<T | undefined> {
  try {
    return await check();
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    keep(fields, error.fields);
    return undefined;
  }
}

/** One field as given, if its own schema takes it; else undefined (its problem is told already). */
function valid<T>(schema: z.ZodType<T>, value: unknown): T | undefined {
  const result = schema.safeParse(value);
  return result.success ? result.data : undefined;
}

type Registration = { data: NewApp; ownerUnit: string | null; slug: string; slugTaken: TakenSlug | null };

/**
 * Every problem of a registration at once, each beside its field: the form's own, and those only the
 * registry can tell (an unknown unit, a slug, client id or name in use), each checked as far as its own
 * field allows, so that none is told only after another is fixed. Not being allowed is told alone.
 */
async function checkRegistration(ctx: GatewayContext, input: unknown, clientId: string): Promise<Registration> {
  const parsed = newAppSchema.safeParse(input);
  const fields: FieldErrors = parsed.success ? {} : fieldErrorsOf(parsed.error);
  const { shape } = newAppSchema;
  const given = (input ?? {}) as Record<string, unknown>;
  const shown = (given.visibility ?? {}) as Record<string, unknown>;
  const units = valid(visibilitySchema.shape.units, shown.units);
  const roles = valid(visibilitySchema.shape.roles, shown.roles);
  const name = valid(shape.name, given.name);
  const requested = valid(shape.ownerUnit, given.ownerUnit);
  const ownerUnit = fields.ownerUnit ? null : ((await collect(fields, () => resolveOwnerUnit(ctx, requested))) ?? null);
  assertMayBeFirstParty(ctx, null, valid(shape.firstParty, given.firstParty) ?? false);
  keep(fields, await unitProblems(ctx, ownerUnit, units ?? []));
  await collect(fields, () =>
    assertCallableUrls(ctx, {
      backchannelLogoutUri: valid(shape.backchannelLogoutUri, given.backchannelLogoutUri),
      interactionCallbackUrl: valid(shape.interactionCallbackUrl, given.interactionCallbackUrl),
    }),
  );

  const chosen = valid(shape.slug, given.slug);
  const clash = chosen ? await slugClash(ctx, chosen) : null;
  if (clash) fields.slug ??= clash;
  const made = !chosen && !fields.slug && name !== undefined ? await freeSlugFrom(ctx, name) : null;
  if (await clientIdTaken(ctx, clientId)) fields.clientId ??= `client id ${clientId} is taken`;
  if (name !== undefined && units && roles && !fields['visibility.units'] && !fields.ownerUnit) {
    const sameName = await sameNameProblem(ctx, name, { ownerUnit, visibilityUnits: units, visibilityRoles: roles });
    if (sameName) fields.name ??= sameName;
  }
  if (!parsed.success || Object.keys(fields).length > 0) {
    // Refused units alone are named at the top too: the field's words say what to change.
    const message = parsed.success && onlyUnitProblems(fields) ? unitsRefusal(fields) : 'Some fields are invalid';
    throw new ValidationError(parsed.success ? message : refusalMessage(parsed.error, message), fields);
  }
  return { data: parsed.data, ownerUnit, slug: chosen ?? made!.slug, slugTaken: made?.taken ?? null };
}

async function clientIdTaken(ctx: GatewayContext, clientId: string): Promise<boolean> {
  const { App, OidcPayload } = ctx.models;
  const app = await App.findOne({ where: { clientId }, attributes: ['id'], transaction: ctx.tx });
  if (app) return true;
  const client = await OidcPayload.findOne({
    where: { model: 'Client', id: clientId },
    attributes: ['id'],
    transaction: ctx.tx,
  });
  return client !== null;
}

/**
 * Registers an app: its row in the registry and its OIDC client (authorization code with PKCE, refresh,
 * client credentials for its bot). Full administrators register anywhere; a unit admin only for a unit
 * of their own. The client secret, and the callback secret when `secrets` seals one, are returned here
 * once. Every field is checked first, with an error per field; nothing is stored unless all pass. A name
 * another app shown to some of the same people has is refused (same-name.ts); a slug made from the name
 * that is taken becomes the next free one, and the answer says so.
 */
export async function registerApp(ctx: GatewayContext, input: unknown, secrets?: Sealer): Promise<RegisteredApp> {
  const clientSecret = newSecret();
  const callbackSecret = secrets ? newSecret() : undefined;
  return inTransaction(ctx, async (ctx) => {
    const given = (input ?? {}) as Record<string, unknown>;
    const clientId = valid(newAppSchema.shape.clientId, given.clientId) ?? `app-${randomUUID().slice(0, 8)}`;
    const { data, ownerUnit, slug, slugTaken } = await checkRegistration(ctx, input, clientId);
    if (data.interactionCallbackUrl && !secrets)
      throw new Error('registering an app with an interaction callback needs the callback secret sealer');
    const app = await ctx.models.App.create(
      {
        id: randomUUID(),
        clientId,
        slug,
        name: data.name,
        icon: data.icon ?? null,
        description: data.description || null,
        homeUrl: data.homeUrl ?? null,
        interactionCallbackUrl: data.interactionCallbackUrl ?? null,
        visibilityUnits: data.visibility.units,
        visibilityRoles: data.visibility.roles,
        firstParty: data.firstParty,
        botEnabled: data.botEnabled,
        disabled: false,
        ownerUnit,
        callbackSecretSealed: callbackSecret ? secrets!.seal(callbackSecret) : null,
      },
      { transaction: ctx.tx },
    );
    const client = clientMetadataOf(clientId, sealedClientSecret(ctx, clientSecret), {
      ...data,
      backchannelLogoutUri: data.backchannelLogoutUri,
    });
    await saveClient(ctx, client);
    const presented = presentApp(app, client);
    await audit(ctx, { action: 'app.register', target: slug, details: auditedFields(presented) });
    return {
      id: app.id,
      slug,
      clientId,
      name: data.name,
      clientSecret,
      ...(callbackSecret ? { callbackSecret } : {}),
      slugTaken,
      app: presented,
    };
  });
}
