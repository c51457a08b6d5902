import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Store } from 'express-session';
import { AuthorizationResponseError } from 'openid-client';
import { z } from 'zod';
import { CallbackRejected, createCallbackVerifier } from '../../protocol/verify-callback.ts';
import { approverFor, isApprover } from './approvers.ts';
import type { Auth, Person } from './auth.ts';
import type { Chat } from './chat.ts';
import type { LeaveConfig } from './config.ts';
import { csrfCheck, csrfToken } from './csrf.ts';
import { approverOf } from './cards.ts';
import { isCalendarDay, machineTimeZone, readableDay, todayIn } from './dates.ts';
import { decide } from './decide.ts';
import { endSessions } from './end-sessions.ts';
import { html, page, type Html } from './html.ts';
import { createLogoutVerifier, LogoutRejected } from './logout-token.ts';
import { notifyChat } from './notify.ts';
import type { LeaveRequest, LeaveStore } from './store.ts';

declare module 'express-session' {
  interface SessionData {
    notice?: string;
    /** Signed out here: the start page offers the sign-in link instead of signing in again silently. */
    signedOut?: boolean;
    /** The silent sign-in just came back without a person; shown the link once, then tried again. */
    signInNeeded?: boolean;
  }
}

type Deps = {
  config: LeaveConfig;
  store: LeaveStore;
  chat: Chat;
  auth: Auth;
  sessions: Store;
  log: (message: string, error?: unknown) => void;
};

/**
 * A day of the form as its date picker sends it (`YYYY-MM-DD`, whatever the picker shows). The errors say
 * what to do and name no format: the picker shows the browser's own.
 */
const day = (message: string) =>
  z.string().refine((d) => /^\d{4}-\d{2}-\d{2}$/.test(d) && isCalendarDay(d), { message });

/** Today in the campus's calendar (LEAVE_TIME_ZONE, else the machine's time zone). */
const campusToday = (config: LeaveConfig) => todayIn(config.timeZone ?? machineTimeZone());

/** A request as the form sends it, on the campus's `today`: leave starts today at the earliest. */
const requestSchema = (today: string) =>
  z
    .object({
      from: day('Choose the first day').refine((d) => d >= today, {
        message: 'The first day has passed: choose today or a later day',
      }),
      to: day('Choose the last day'),
      reason: z.string().trim().min(1, { message: 'Say why' }).max(500, { message: 'At most 500 characters' }),
    })
    .refine((r) => r.to >= r.from, { message: 'The last day is before the first day', path: ['to'] });

const personOf = (req: Request) => req.user as (Person & { idToken?: string }) | undefined;
const form = express.urlencoded({ extended: false, limit: '8kb' });

/**
 * The requests as a table; on a narrow screen each row stacks into lines named by their column (html.ts).
 * The approver is named whenever the app knows their name (`nameOf`), also on requests made before it did.
 */
function requestRows(
  requests: readonly LeaveRequest[],
  who: 'requester' | 'approver',
  nameOf: (address: string) => string | undefined,
): Html {
  if (requests.length === 0) return html`<p class="muted">None.</p>`;
  const first = who === 'requester' ? 'Approver' : 'Requested by';
  return html`<table class="requests"><thead><tr><th>${first}</th><th>From</th><th>To</th><th>Reason</th><th>Status</th></tr></thead><tbody>
${requests.map(
  (
    r,
  ) => html`<tr><td data-label="${first}">${who === 'requester' ? approverOf(r, nameOf) : r.student.name}</td><td data-label="From">${readableDay(r.from)}</td><td data-label="To">${readableDay(r.to)}</td><td data-label="Reason">${r.reason}</td>
<td data-label="Status">${r.status}${r.decidedBy ? html` by ${r.decidedBy}` : ''}${r.notifyError ? html` <span class="error">(chat not told: ${r.notifyError})</span>` : ''}</td></tr>`,
)}
</tbody></table>`;
}

function home(
  req: Request,
  res: Response,
  deps: Deps,
  state: { values?: Record<string, string>; errors?: Record<string, string>; status?: number } = {},
) {
  const person = personOf(req)!;
  const csrf = csrfToken(req);
  const notice = req.session.notice;
  delete req.session.notice;
  const mine = deps.store.all().filter((r) => r.student.sub === person.sub);
  const toDecide = deps.store.all().filter((r) => person.address && r.approver === person.address);
  const retry = mine.filter((r) => r.notifyError);
  const values = state.values ?? {};
  const errors = state.errors ?? {};
  const error = (field: string) =>
    errors[field] ? html`<p class="error" id="${field}-error">${errors[field]}</p>` : '';
  const invalid = (field: string) =>
    errors[field] ? html` aria-invalid="true" aria-describedby="${field}-error"` : '';
  const today = campusToday(deps.config);
  const nameOf = deps.store.nameOf;
  const body = html`
<p>Signed in as <strong>${person.name}</strong> <span class="muted">(${person.address ?? 'no chat account'})</span></p>
<form method="post" action="/logout"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit">Sign out</button></form>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<h1>Request leave</h1>
<form method="post" action="/requests" novalidate>
<input type="hidden" name="_csrf" value="${csrf}">
<label for="from">First day</label><input id="from" name="from" type="date" min="${today}" value="${values.from ?? ''}"${invalid('from')}>${error('from')}
<label for="to">Last day</label><input id="to" name="to" type="date" min="${today}" value="${values.to ?? ''}"${invalid('to')}>${error('to')}
<label for="reason">Reason</label><textarea id="reason" name="reason" rows="3"${invalid('reason')}>${values.reason ?? ''}</textarea>${error('reason')}
${error('_')}
<button type="submit">Send to my approver</button>
</form>
<h2>My requests</h2>${requestRows(mine, 'requester', nameOf)}
${retry.map((r) => html`<form method="post" action="/requests/${r.id}/notify"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit">Tell chat again about ${readableDay(r.from)} – ${readableDay(r.to)}</button></form>`)}
${toDecide.length > 0 || isApprover(deps.config.approvers, person.address) ? html`<h2>Requests for me to decide</h2><p class="muted">Approve or reject them from the card in chat.</p>${requestRows(toDecide, 'approver', nameOf)}` : ''}`;
  res
    .status(state.status ?? 200)
    .type('html')
    .send(page('Leave', body, deps.config.gatewayIssuer));
}

const signInLink = html`<h1>Leave approval</h1><p>Request leave and follow it in chat.</p><p><a href="/login">Sign in with your campus account</a></p>`;
/** After the campus ended this browser's sign-in here (end-sessions.ts): why, and the way back in. */
const campusEnded = html`<h1>You were signed out</h1><p role="status">You were signed out by your campus sign-in (signed out elsewhere, or by an administrator).</p><p><a href="/login">Sign in again</a></p>`;

/**
 * The end of a sign-in. A silent one the gateway could not answer without a page (login_required and
 * the like), a cancelled one, and one this browser did not start (or started more than ten minutes ago)
 * land on the start page's link rather than an error, once, signing no one in.
 */
async function signedIn(req: Request, res: Response, next: NextFunction, deps: Deps) {
  let person: Awaited<ReturnType<Auth['finishSignIn']>>;
  try {
    person = await deps.auth.finishSignIn(req);
  } catch (error) {
    if (!(error instanceof AuthorizationResponseError)) throw error;
    person = null;
  }
  if (!person) {
    req.session.signInNeeded = true;
    return res.redirect(303, '/');
  }
  const { address, name } = person;
  deps.auth.logIn(req, person, (loginError) => {
    if (loginError) return next(loginError);
    const learnt = address ? deps.store.learnName(address, name) : Promise.resolve();
    learnt.then(() => res.redirect(303, '/'), next);
  });
}

export function leaveRoutes(deps: Deps): Router {
  const router = Router();
  const verify = createCallbackVerifier({ secret: deps.config.callbackSecret });
  const verifyLogout = createLogoutVerifier(deps.auth, deps.config.clientId);
  const checkCsrf = csrfCheck(deps.config.gatewayIssuer);

  router.get('/', async (req, res) => {
    if (personOf(req)) return home(req, res, deps);
    // Not signed in again silently: the campus ended this sign-in, and says so until the person signs in.
    if (req.session.endedByCampus)
      return res.type('html').send(page('Signed out', campusEnded, deps.config.gatewayIssuer));
    if (req.session.signedOut || req.session.signInNeeded) {
      delete req.session.signInNeeded;
      return res.type('html').send(page('Sign in', signInLink, deps.config.gatewayIssuer));
    }
    // Opened from the workbench: the gateway answers at once, without a page, for someone signed in there.
    res.redirect(await deps.auth.signInUrl(req, { prompt: 'none' }));
  });

  router.get('/login', async (req, res) => {
    res.redirect(await deps.auth.signInUrl(req));
  });

  router.get('/auth/callback', (req, res, next) => signedIn(req, res, next, deps));

  router.post('/logout', form, checkCsrf, async (req, res, next) => {
    const target = await deps.auth.endSessionUrl(personOf(req)?.idToken).catch(() => '/');
    // A fresh session that remembers the sign-out, so coming back here does not sign in again silently.
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.signedOut = true;
      res.redirect(303, target);
    });
  });

  router.post('/backchannel-logout', express.urlencoded({ extended: false, limit: '16kb' }), async (req, res) => {
    res.set('Cache-Control', 'no-store');
    let subject;
    try {
      subject = await verifyLogout((req.body as Record<string, unknown> | undefined)?.logout_token);
    } catch (error) {
      if (!(error instanceof LogoutRejected)) throw error;
      deps.log(`refused a back-channel logout: ${error.reason}`);
      return res.status(400).json({ error: 'invalid_request', error_description: error.reason });
    }
    await endSessions(deps.sessions, subject);
    res.status(200).end();
  });

  router.post('/requests', form, checkCsrf, async (req, res) => {
    const person = personOf(req);
    if (!person) return res.redirect(303, '/login');
    const values = {
      from: String(req.body.from ?? ''),
      to: String(req.body.to ?? ''),
      reason: String(req.body.reason ?? ''),
    };
    const parsed = requestSchema(campusToday(deps.config)).safeParse(values);
    if (!parsed.success) {
      const errors: Record<string, string> = {};
      for (const issue of parsed.error.issues) errors[String(issue.path[0] ?? '_')] ??= issue.message;
      return home(req, res, deps, { values, errors, status: 400 });
    }
    const refused = (why: string) => home(req, res, deps, { values, errors: { _: why }, status: 409 });
    if (!person.address)
      return refused('You have no chat account, where the answer would reach you; ask your college office.');
    const approver = approverFor(deps.config.approvers, person);
    if (!approver)
      return refused(
        isApprover(deps.config.approvers, person.address)
          ? 'Nobody but you is set up to approve leave for your unit; ask your college office who approves yours.'
          : 'Nobody is set up to approve leave for your unit; ask your college office.',
      );
    const request = await deps.store.create({
      student: { sub: person.sub, name: person.name, address: person.address, units: person.units },
      ...parsed.data,
      approver,
      approverName: deps.store.nameOf(approver) ?? null,
    });
    const told = await notifyChat(deps.store, deps.chat, request);
    req.session.notice = told.notifyError
      ? `Saved, but chat could not be told (${told.notifyError}); try again below.`
      : `Sent to ${approverOf(request, deps.store.nameOf)}; you will see the answer in chat.`;
    res.redirect(303, '/');
  });

  router.post('/requests/:id/notify', form, checkCsrf, async (req, res) => {
    const person = personOf(req);
    const request = deps.store.get(String(req.params.id));
    if (!person || !request || request.student.sub !== person.sub)
      return res.status(404).type('text/plain').send('No such request');
    const told = await notifyChat(deps.store, deps.chat, request);
    req.session.notice = told.notifyError ? `Chat still cannot be told (${told.notifyError}).` : 'Chat has been told.';
    res.redirect(303, '/');
  });

  // Card clicks from the chat nodes: the raw body is what the signature covers.
  router.post('/atrium/callback', express.text({ type: () => true, limit: '16kb' }), async (req, res) => {
    let event;
    try {
      event = await verify({ headers: req.headers, body: typeof req.body === 'string' ? req.body : '' });
    } catch (error) {
      if (!(error instanceof CallbackRejected)) throw error;
      deps.log(`refused a card callback: ${error.reason}`);
      return res.status(401).json({ error: error.reason });
    }
    res.json(await decide(deps, event));
  });

  return router;
}
