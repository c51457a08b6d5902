/** The page's own server (`/portal/api`): same origin, the session cookie, and the anti-CSRF header. */

/** `title` names the node for people: the units it serves ("College of Arts"), else the domain name. */
export type PortalDomain = {
  name: string;
  title: string;
  url: string;
  socketUrl: string;
  address: string;
  home: boolean;
};
export type Me = {
  user: { id: string; username: string; name: string; email: string; roles: string[]; homeDomain: string | null };
  domains: PortalDomain[];
  /** The domain that served the person until it was removed at the gateway, when none serves them now. */
  chatRemoved?: { domain: string; title: string } | null;
};
export type WorkbenchApp = {
  slug: string;
  name: string;
  icon: string | null;
  description: string | null;
  openUrl: string;
  /** The path of the unit that owns the app; null for a campus-wide one. */
  ownerUnit: string | null;
};

/** A refused or failed HTTP call to the gateway or a node: its status (0 when none came) and the error code it gave. */
export class HttpError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Signs in again (silently while the gateway session lasts) and comes back to the page. */
export function signInAgain(): void {
  window.location.assign('/portal/login');
}

/** What the page does when the portal answers that it is not signed in: signing in again, unless told otherwise. */
let signedOut: () => void = signInAgain;

/** How the page answers a 401 of the portal from now on (the running app waits for its nodes' word first). */
export function answerSignedOut(answer: () => void): void {
  signedOut = answer;
}

export async function portalApi<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`/portal/api/${path}`, {
    ...init,
    credentials: 'same-origin',
    headers: {
      accept: 'application/json',
      'x-atrium-portal': '1',
      ...(init.headers as Record<string, string> | undefined),
    },
  });
  const body = (await response.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!response.ok) {
    if (response.status === 401) signedOut();
    throw new HttpError(
      response.status,
      body.error?.code ?? `http_${response.status}`,
      body.error?.message ?? `HTTP ${response.status}`,
    );
  }
  return body as T;
}

export const fetchMe = () => portalApi<Me>('me');
export const fetchWorkbench = () => portalApi<{ apps: WorkbenchApp[] }>('workbench').then((r) => r.apps);
/** Units as people read them ("Department of Music, College of Arts"), by path; unknown paths are left out. */
export const fetchUnitLabels = (paths: string[]) =>
  portalApi<{ units: { path: string; label: string }[] }>(
    `units?${new URLSearchParams({ paths: paths.join(',') })}`,
  ).then((r) => r.units);
/**
 * Other colleges' nodes by the names people know them by ("School of Law"); `removed` for one removed from
 * the campus; names never registered are left out.
 */
export const fetchDomainTitles = (names: string[]) =>
  portalApi<{ domains: { name: string; title: string; removed?: true }[] }>(
    `domains?${new URLSearchParams({ names: names.join(',') })}`,
  ).then((r) => r.domains);
export const logout = () => portalApi<{ redirect: string }>('logout', { method: 'POST' });

/**
 * Access tokens per domain node, from the portal (which refreshes them server-side). A token is reused
 * while more than a minute of it is left; the SDK asks again on every reconnect and before expiry.
 */
function tokenSource(domain: string): () => Promise<string> {
  let cached: { token: string; expiresAt: number } | undefined;
  let inFlight: Promise<string> | undefined;
  return () => {
    if (cached && cached.expiresAt - Date.now() > 60_000) return Promise.resolve(cached.token);
    inFlight ??= portalApi<{ token: string; expiresAt: string }>(`token?domain=${encodeURIComponent(domain)}`)
      .then((r) => {
        cached = { token: r.token, expiresAt: Date.parse(r.expiresAt) };
        return r.token;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
}

const sources = new Map<string, () => Promise<string>>();

/** A current access token for one of the person's domain nodes (shared by the sockets and HTTP calls). */
export function tokenFor(domain: string): Promise<string> {
  let source = sources.get(domain);
  if (!source) sources.set(domain, (source = tokenSource(domain)));
  return source();
}
