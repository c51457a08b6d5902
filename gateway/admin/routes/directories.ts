import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from '../../../core/logger.ts';
import type { Sealer } from '../../../core/seal.ts';
import { unitTree } from '../../accounts/unit-tree.ts';
import { listDirectories, showDirectory } from '../../directories/list-directories.ts';
import type { PresentedDirectory } from '../../directories/present-directory.ts';
import { PRESETS } from '../../directories/presets.ts';
import { DEFAULT_MASS_CHANGE_LIMIT } from '../../directories/schemas.ts';
import { PRESET_FIELDS } from '../../directories/settings.ts';
import { DirectoryUnavailableError } from '../../directories/errors.ts';
import { registerDirectory } from '../../directories/register-directory.ts';
import { relinkPerson } from '../../directories/relink-person.ts';
import { notSyncedYet } from '../../directories/schedule-words.ts';
import { describeRemoval, DirectoryHasPeopleError, removeDirectory } from '../../directories/remove-directory.ts';
import { stoppedByLimit, stoppedInConsole, summarizeDryRun, wouldNames } from '../../directories/mass-change.ts';
import { syncDirectory } from '../../directories/sync-directory.ts';
import { counted, namedPeople, summarize, unservedNote, type SyncReport } from '../../directories/sync-report.ts';
import { testDirectory, type DirectoryTest } from '../../directories/test-directory.ts';
import { describeUpdate, SETTING_LABELS, updateDirectory } from '../../directories/update-directory.ts';
import { ROLES } from '../../models/index.ts';
import { keepForPage, takeForPage } from '../after-redirect.ts';
import { inConsoleWords } from '../console-words.ts';
import {
  bodyOf,
  FORM_TOO_LONG,
  formBody,
  formFailure,
  list,
  text,
  tooLongFailure,
  typedFormBody,
  type Body,
  type FormFailure,
} from '../form-input.ts';
import { fullAdminOnly, type ConsoleKit } from '../kit.ts';
import { setFlash } from '../page.ts';
import { mergeShown, shownIn, shownJson, staleFormFailure, type FormFields } from '../shown-form.ts';
import { NotUnderstoodError } from '../../factors/errors.ts';

/** How long the "Sync now" button waits for the report; a longer sync goes on, and its report shows on the page later. */
const SYNC_WAIT_MS = 20_000;

const optional = (body: Body, name: string) => text(body, name).trim() || undefined;
/** A field every registration has: blank, it is refused with what to enter, never taken as "unchanged". */
const required = (body: Body, name: string) => (name in body ? text(body, name) : undefined);
/** An optional setting the form may clear: "" clears it. */
const clearable = (body: Body, name: string) => (name in body ? text(body, name).trim() || null : undefined);
const lines = (body: Body, name: string) =>
  text(body, name)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);

/** The form's fields as the use-cases take them; blank mapping fields fall back to the preset. */
function inputOf(body: Body) {
  return {
    url: required(body, 'url'),
    startTls: optional(body, 'startTls'),
    caFile: clearable(body, 'caFile'),
    bindDn: required(body, 'bindDn'),
    bindPassword: text(body, 'bindPassword') || undefined,
    preset: optional(body, 'preset'),
    userBase: required(body, 'userBase'),
    userFilter: optional(body, 'userFilter'),
    groupBase: clearable(body, 'groupBase'),
    usernameAttribute: optional(body, 'usernameAttribute'),
    nameAttributes: list(body, 'nameAttributes').length > 0 ? list(body, 'nameAttributes') : undefined,
    emailAttributes: list(body, 'emailAttributes').length > 0 ? list(body, 'emailAttributes') : undefined,
    // Empty: the preset's (an edit keeps the current one); "none" turns it off (schemas.ts).
    disabledAttribute: optional(body, 'disabledAttribute'),
    expiryAttribute: optional(body, 'expiryAttribute'),
    idAttribute: optional(body, 'idAttribute'),
    passwordChangedAttribute: optional(body, 'passwordChangedAttribute'),
    groupMembership: optional(body, 'groupMembership'),
    // The form always shows the checkbox, so its absence is "off".
    nestedGroups: text(body, 'nestedGroups') === 'on',
    unitFrom: optional(body, 'unitFrom'),
    unitAttribute: clearable(body, 'unitAttribute'),
    unitRoot: required(body, 'unitRoot'),
    roleGroups: lines(body, 'roleGroups'),
    defaultRole: optional(body, 'defaultRole'),
    timeoutSeconds: optional(body, 'timeoutSeconds'),
    massChangeLimit: optional(body, 'massChangeLimit'),
    resetUrl: required(body, 'resetUrl'),
  };
}

/**
 * The form shows every mapping field filled in, so a change of preset on it would otherwise give the new
 * preset nothing to fill: the fields left as they were shown are taken as not given, and follow the preset
 * where they held the old one's values, as on the command line (settings.ts composeSettings).
 */
function presetFollowed(input: ReturnType<typeof inputOf>, changedOnPage: string[]) {
  if (!changedOnPage.includes('preset')) return input;
  const followed: Record<string, unknown> = { ...input };
  for (const field of PRESET_FIELDS) if (!changedOnPage.includes(field)) followed[field] = undefined;
  return followed;
}

/** What the form shows for a registration (the password field always starts empty). */
function valuesOf(d: PresentedDirectory): Record<string, unknown> {
  return {
    url: d.url,
    // StartTLS on ldap:// and none on ldaps:// are each the default, shown as such: saved with another
    // scheme, the form then takes that scheme's default rather than a "yes" nobody chose (settings.ts).
    startTls: d.tls === 'none' ? 'no' : '',
    caFile: d.caFile ?? '',
    bindDn: d.bindDn,
    preset: d.preset,
    userBase: d.userBase,
    userFilter: d.userFilter,
    groupBase: d.groupBase ?? '',
    usernameAttribute: d.attributes.username,
    nameAttributes: d.attributes.name.join(', '),
    emailAttributes: d.attributes.email.join(', '),
    disabledAttribute: d.attributes.disabled ?? 'none',
    expiryAttribute: d.attributes.expiry ?? 'none',
    idAttribute: d.attributes.id ?? 'none',
    passwordChangedAttribute: d.attributes.passwordChanged ?? 'none',
    groupMembership: d.groupMembership,
    nestedGroups: d.nestedGroups ? 'on' : '',
    unitFrom: d.unitFrom,
    unitAttribute: d.unitAttribute ?? '',
    unitRoot: d.unitRoot,
    roleGroups: d.roleGroups.join('\n'),
    defaultRole: d.defaultRole,
    timeoutSeconds: String(d.timeoutSeconds),
    massChangeLimit: d.massChangeLimit === null ? 'off' : String(d.massChangeLimit),
    resetUrl: d.resetUrl,
  };
}

/** The settings form's fields as its page sends them for the registration as stored, to carry and compare (shown-form.ts). */
const directoryFields = (d: PresentedDirectory) => valuesOf(d) as FormFields;

/** How a refusal of a stale form names the directory and its fields (shown-form.ts). */
const staleWords = (d: PresentedDirectory) => ({
  what: `Directory ${d.name}`,
  // The words an update uses for each field in the CLI and here (update-directory.ts).
  labels: SETTING_LABELS,
  flags: ['nestedGroups'],
});

/** The form echoes what was typed after a refusal, lists as the text they were typed in. */
function echo(body: Body): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body))
    if (k !== '_csrf' && k !== 'bindPassword' && typeof v === 'string') values[k] = v;
  return values;
}

/**
 * A report as the page shows it: the summary line and the lists; `attention` when it failed, or kept the last
 * administrator against the directory, which an administrator must fix.
 */
export function reportView(report: SyncReport | null) {
  if (!report) return null;
  return {
    ...report,
    summary: consoleSummary(report),
    pagesRead: counted(report.pages, 'page', 'pages'),
    named: [...namedPeople(report), ...wouldNames(report)],
    more: report.refused - report.names.refused.length,
    attention: needsAttention(report),
    stopped: stoppedByLimit(report),
    unserved: unservedNote(report),
  };
}

/** A sync's summary in the console's words; one the mass change limit stopped says what to tick and press here. */
const consoleSummary = (report: SyncReport) =>
  stoppedByLimit(report) ? stoppedInConsole(report) : inConsoleWords(summarize(report));

/** A dry run's report as the page shows it, beside the buttons. */
const dryRunView = (report: SyncReport) => ({
  summary: inConsoleWords(summarizeDryRun(report)),
  named: wouldNames(report),
  attention: report.outcome === 'failure' || Boolean(report.massChange?.over),
});

const needsAttention = (report: SyncReport) =>
  report.outcome === 'failure' || Boolean(report.keptAdministrators?.length);

const pagePath = (name: string) => `/admin/directories/${encodeURIComponent(name)}`;

/**
 * What a refused button (sync, remove) left for the directory's page after its redirect; `removalUnticked`
 * when the removal was asked for without its "I understand" box.
 */
type Refused = { syncNotice?: string; removal?: string; removalUnticked?: boolean };

/**
 * A refused sync or removal is said on the directory's page after a redirect, like a done one, so that a
 * reload asks for the page and does not start the sync or the removal again.
 */
function refusedOnPage(req: Request, res: Response, name: string, refused: Refused, anchor: string): void {
  keepForPage(req, pagePath(name), refused);
  res.redirect(303, `${pagePath(name)}#${anchor}`);
}

type RenderForm = ReturnType<typeof formRenderer>;

/**
 * What the console's directory pages need beyond the kit. `syncIntervalSeconds` is the gateway's
 * DIRECTORY_SYNC_INTERVAL, for what a page says of a directory not synced yet; left out, it is named, not given.
 */
export type DirectoryRouteDeps = { sealer: Sealer; logger: Logger; syncIntervalSeconds?: number };

/** Draws a directory's page (or the new one's): its form, its last report, and what an action says. */
function formRenderer(kit: ConsoleKit, syncIntervalSeconds?: number) {
  return async function renderForm(
    req: Request,
    res: Response,
    directory: PresentedDirectory | null,
    values: Record<string, unknown>,
    extra: {
      failure?: FormFailure;
      test?: DirectoryTest;
      dryRun?: ReturnType<typeof dryRunView>;
      relink?: { username: string; error: string };
      /** What the settings form first showed, when it is shown again after a refusal (shown-form.ts). */
      shown?: Record<string, unknown> | null;
    } & Refused = {},
  ) {
    kit.render(
      req,
      res,
      'directory-form',
      {
        title: directory ? `Directory ${directory.name}` : 'New directory',
        section: 'directories',
        directory,
        report: reportView(directory?.lastReport ?? null),
        notSyncedYet: notSyncedYet(syncIntervalSeconds, 'Test the connection, then press Sync now'),
        test: extra.test && { ...extra.test, problem: extra.test.problem && inConsoleWords(extra.test.problem) },
        dryRun: extra.dryRun,
        syncNotice: extra.syncNotice,
        removal: extra.removal,
        removalUnticked: extra.removalUnticked,
        relink: extra.relink && { ...extra.relink, error: inConsoleWords(extra.relink.error) },
        presets: PRESETS,
        roles: ROLES,
        units: await unitTree(kit.context(req)),
        values,
        shown: directory ? shownJson(extra.shown ?? directoryFields(directory)) : null,
        errors: extra.failure?.errors ?? {},
        notice: extra.failure?.notice,
      },
      extra.failure?.status,
    );
  };
}

/** What a new registration's form starts with. */
const NEW_DIRECTORY = {
  preset: 'openldap',
  unitFrom: 'ou',
  defaultRole: 'student',
  nestedGroups: 'on',
  timeoutSeconds: '5',
  massChangeLimit: String(DEFAULT_MASS_CHANGE_LIMIT),
  unitRoot: 'campus',
};

/**
 * The parsers of the forms typed into (register, edit, relink): a post too large to read shows its form
 * again, as it would open, with what to do; nothing of it was read.
 */
function typedBodies(kit: ConsoleKit, renderForm: RenderForm) {
  const shown = async (req: Request) => showDirectory(kit.context(req), String(req.params.name));
  return {
    register: typedFormBody((req, res) => renderForm(req, res, null, NEW_DIRECTORY, { failure: tooLongFailure() })),
    edit: typedFormBody(async (req, res) => {
      const directory = await shown(req);
      await renderForm(req, res, directory, valuesOf(directory), { failure: tooLongFailure() });
    }),
    relink: typedFormBody(async (req, res) => {
      const directory = await shown(req);
      await renderForm(req, res, directory, valuesOf(directory), {
        relink: { username: '', error: FORM_TOO_LONG },
        failure: tooLongFailure({}, ''),
      });
    }),
  };
}

/**
 * Campus directories in the console: register, edit, test, sync now, remove; each page shows the last
 * sync report. Full administrators only (a directory brings people into every unit); every action
 * goes through the same use-cases as the CLI, so each is audited.
 */
export function directoryRoutes(kit: ConsoleKit, deps: DirectoryRouteDeps): Router {
  const router = Router();
  router.use('/directories', fullAdminOnly);

  const renderForm = formRenderer(kit, deps.syncIntervalSeconds);
  const typed = typedBodies(kit, renderForm);

  router.get('/directories', async (req, res) => {
    const directories = (await listDirectories(kit.context(req))).map((d) => ({
      ...d,
      report: reportView(d.lastReport),
    }));
    kit.render(req, res, 'directories', { title: 'Directories', section: 'directories', directories });
  });

  router.get('/directories/new', async (req, res) => {
    await renderForm(req, res, null, NEW_DIRECTORY);
  });

  router.post('/directories', typed.register, kit.csrf.check, async (req, res) => {
    const body = bodyOf(req);
    try {
      const directory = await registerDirectory(kit.context(req), deps.sealer, {
        name: text(body, 'name'),
        ...inputOf(body),
        bindPassword: text(body, 'bindPassword'),
      });
      setFlash(req, `Registered directory ${directory.name}. Test it, then sync it.`);
      res.redirect(303, `/admin/directories/${encodeURIComponent(directory.name)}`);
    } catch (error) {
      await renderForm(req, res, null, echo(body), { failure: formFailure(error) });
    }
  });

  router.get('/directories/:name', async (req, res) => {
    const directory = await showDirectory(kit.context(req), String(req.params.name));
    const refused = (takeForPage(req, pagePath(directory.name)) ?? {}) as Refused;
    await renderForm(req, res, directory, valuesOf(directory), refused);
  });

  // Only what was changed on the page is saved: what someone else changed since stays (shown-form.ts).
  router.post('/directories/:name', typed.edit, kit.csrf.check, async (req, res) => {
    const directory = await showDirectory(kit.context(req), String(req.params.name));
    const body = bodyOf(req);
    const shown = shownIn(body);
    const merge = shown && mergeShown(body, shown, directoryFields(directory));
    if (!merge || merge.conflicts.length > 0) {
      const failure = staleFormFailure(body, merge?.conflicts ?? null, staleWords(directory));
      return renderForm(req, res, directory, valuesOf(directory), { failure });
    }
    try {
      const updated = await updateDirectory(
        kit.context(req),
        deps.sealer,
        directory.name,
        {
          ...presetFollowed(inputOf(merge.body), merge.changed),
          forgetEntryIds: text(body, 'forgetEntryIds') === 'on' || undefined,
        },
        // Ticked for a directory down for maintenance: saved without trying the new settings first.
        { untested: text(body, 'saveUntested') === 'on' },
      );
      setFlash(req, describeUpdate(updated).join(' '));
      res.redirect(303, `/admin/directories/${encodeURIComponent(directory.name)}`);
    } catch (error) {
      await renderForm(req, res, directory, echo(body), { failure: formFailure(error), shown });
    }
  });

  router.post('/directories/:name/test', formBody, kit.csrf.check, async (req, res) => {
    const result = await testDirectory(kit.context(req), deps.sealer, String(req.params.name));
    const directory = await showDirectory(kit.context(req), result.directory);
    await renderForm(req, res, directory, valuesOf(directory), { test: result });
  });

  router.post('/directories/:name/sync', formBody, kit.csrf.check, async (req, res) => {
    const name = String(req.params.name);
    try {
      // Ticked beside the button after a sync the mass change limit stopped: this one sync goes past it.
      const allowMassChange = text(bodyOf(req), 'allowMassChange') === 'yes';
      const running = syncDirectory(
        kit.context(req),
        { sealer: deps.sealer, logger: deps.logger, allowMassChange },
        name,
      );
      running.catch((err: unknown) =>
        deps.logger.warn({ err, directory: name }, 'a directory sync started from the console failed'),
      );
      const report = await Promise.race([
        running,
        new Promise<null>((resolve) => setTimeout(resolve, SYNC_WAIT_MS, null).unref()),
      ]);
      if (report) setFlash(req, consoleSummary(report), needsAttention(report) ? 'error' : 'success');
      else setFlash(req, 'The sync is still running; its report appears on this page when it ends.');
      res.redirect(303, pagePath(name));
    } catch (error) {
      const directory = await showDirectory(kit.context(req), name);
      refusedOnPage(
        req,
        res,
        directory.name,
        { syncNotice: inConsoleWords(formFailure(error).notice) },
        'actions-heading',
      );
    }
  });

  // What a sync now would do, said on the page; nothing is written, the last report included.
  router.post('/directories/:name/dry-run', formBody, kit.csrf.check, async (req, res) => {
    const name = String(req.params.name);
    try {
      const report = await syncDirectory(kit.context(req), { ...deps, dryRun: true }, name);
      const directory = await showDirectory(kit.context(req), name);
      await renderForm(req, res, directory, valuesOf(directory), { dryRun: dryRunView(report) });
    } catch (error) {
      const directory = await showDirectory(kit.context(req), name);
      const syncNotice = inConsoleWords(formFailure(error).notice);
      refusedOnPage(req, res, directory.name, { syncNotice }, 'actions-heading');
    }
  });

  personAndRemovalRoutes(router, kit, deps, renderForm, typed.relink);
  return router;
}

/** Relinking a person to their new entry, and removing the directory: the page's two smaller forms. */
function personAndRemovalRoutes(
  router: Router,
  kit: ConsoleKit,
  deps: { sealer: Sealer },
  renderForm: RenderForm,
  relinkBody: RequestHandler,
): void {
  router.post('/directories/:name/relink', relinkBody, kit.csrf.check, async (req, res) => {
    const name = String(req.params.name);
    const username = text(bodyOf(req), 'username');
    try {
      const relinked = await relinkPerson(kit.context(req), deps.sealer, name, username);
      setFlash(
        req,
        `${relinked.username} is now the person of ${relinked.dn}; the next sync brings them back as it says.`,
        'success',
      );
      res.redirect(303, `/admin/directories/${encodeURIComponent(name)}`);
    } catch (error) {
      // A directory that does not answer is said here too, beside the form, rather than as an error page.
      const failure =
        error instanceof DirectoryUnavailableError
          ? {
              status: error.status,
              errors: {},
              notice: error.problem,
            }
          : formFailure(error);
      const directory = await showDirectory(kit.context(req), name);
      await renderForm(req, res, directory, valuesOf(directory), {
        relink: { username, error: failure.notice },
        failure: { status: failure.status, errors: {}, notice: '' },
      });
    }
  });

  router.post('/directories/:name/remove', formBody, kit.csrf.check, async (req, res) => {
    const name = String(req.params.name);
    const body = bodyOf(req);
    // Removing it is for good, and may disable its people: only with the box beside the button ticked.
    if (text(body, 'understood') !== 'yes') {
      const directory = await showDirectory(kit.context(req), name);
      const { notice } = formFailure(new NotUnderstoodError(`remove directory ${directory.name}`));
      return refusedOnPage(req, res, directory.name, { removal: notice, removalUnticked: true }, 'remove-heading');
    }
    try {
      const removed = await removeDirectory(kit.context(req), name, {
        disablePeople: text(body, 'disablePeople') === 'on',
      });
      setFlash(
        req,
        describeRemoval(removed, (username) => `set one on ${username}’s page under Users (“Set a password”)`),
      );
      res.redirect(303, '/admin/directories');
    } catch (error) {
      const refusal =
        error instanceof DirectoryHasPeopleError
          ? new DirectoryHasPeopleError(
              error.directory,
              error.people,
              'see below what removing it does to them, and tick “I understand” again to remove it',
            )
          : error;
      const directory = await showDirectory(kit.context(req), name);
      refusedOnPage(req, res, directory.name, { removal: formFailure(refusal).notice }, 'remove-heading');
    }
  });
}
