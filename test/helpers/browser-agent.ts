/**
 * A minimal cookie-keeping HTTP client that walks the gateway's HTML forms as a browser without
 * JavaScript would: follows redirects, keeps cookies per host, reads forms and submits them.
 */
export type Page = { url: string; status: number; html: string; headers: Headers };
export type Form = { action: string; method: string; fields: Record<string, string> };

export class BrowserAgent {
  readonly cookies = new Map<string, Map<string, string>>();
  /** The User-Agent it sends, as a browser does; none given, fetch's own. */
  readonly userAgent: string | undefined;

  constructor(options: { userAgent?: string } = {}) {
    this.userAgent = options.userAgent;
  }

  cookieHeader(url: URL): string {
    return [...(this.cookies.get(url.host) ?? new Map()).entries()].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private store(url: URL, response: Response): void {
    const jar = this.cookies.get(url.host) ?? new Map<string, string>();
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some(
        (a) => /^\s*max-age=0/i.test(a) || (/^\s*expires=/i.test(a) && new Date(a.split('=')[1]!) < new Date()),
      );
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    this.cookies.set(url.host, jar);
  }

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(target);
    if (cookie) headers.set('cookie', cookie);
    if (!headers.has('accept')) headers.set('accept', 'text/html');
    if (this.userAgent && !headers.has('user-agent')) headers.set('user-agent', this.userAgent);
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    this.store(target, response);
    return response;
  }

  /** Follows redirects from `url`; stops (without fetching) at the first URL starting with `stopAt`. */
  async navigate(url: string, init: RequestInit = {}, stopAt?: string): Promise<Page> {
    let current = url;
    let response = await this.request(current, init);
    for (let hops = 0; hops < 20; hops++) {
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location) break;
      await response.arrayBuffer();
      current = new URL(location, current).toString();
      if (stopAt && current.startsWith(stopAt))
        return { url: current, status: response.status, html: '', headers: response.headers };
      response = await this.request(current);
    }
    return { url: current, status: response.status, html: await response.text(), headers: response.headers };
  }

  async submit(page: Page, form: Form, values: Record<string, string> = {}, stopAt?: string): Promise<Page> {
    const body = new URLSearchParams({ ...form.fields, ...values });
    return this.navigate(
      new URL(form.action, page.url).toString(),
      { method: form.method.toUpperCase(), body, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      stopAt,
    );
  }
}

const decode = (s: string) =>
  s
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;/g, "'")
    .replace(/&#39;/g, "'")
    .replace(/&#x3D;/g, '=');

export function formsOf(html: string): Form[] {
  const forms: Form[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = match[1]!;
    const action = decode(/action="([^"]*)"/i.exec(attrs)?.[1] ?? '');
    const method = /method="([^"]*)"/i.exec(attrs)?.[1] ?? 'get';
    const fields: Record<string, string> = {};
    for (const input of match[2]!.matchAll(/<input\b([^>]*)>/gi)) {
      const name = /name="([^"]*)"/i.exec(input[1]!)?.[1];
      if (name) fields[name] = decode(/value="([^"]*)"/i.exec(input[1]!)?.[1] ?? '');
    }
    forms.push({ action, method, fields });
  }
  return forms;
}

export function formWithAction(page: Page, fragment: string): Form {
  const form = formsOf(page.html).find((f) => f.action.includes(fragment));
  if (!form)
    throw new Error(
      `No form with action containing ${fragment} on ${page.url} (status ${page.status}):\n${page.html.slice(0, 2000)}`,
    );
  return form;
}

/** Signs in through the gateway's login form (and consent, if shown); returns the redirect back to the app. */
export async function signIn(
  agent: BrowserAgent,
  authorizationUrl: string,
  redirectUri: string,
  username: string,
  password: string,
): Promise<URL> {
  let page = await agent.navigate(authorizationUrl, {}, redirectUri);
  if (page.url.includes('/interaction/') && page.html.includes('/login"')) {
    page = await agent.submit(page, formWithAction(page, '/login'), { username, password }, redirectUri);
  }
  if (page.url.includes('/interaction/') && page.html.includes('/confirm"')) {
    page = await agent.submit(page, formWithAction(page, '/confirm'), {}, redirectUri);
  }
  if (!page.url.startsWith(redirectUri))
    throw new Error(`Sign-in did not return to the app: ${page.url} (${page.status})\n${page.html.slice(0, 1500)}`);
  return new URL(page.url);
}

/** A form as a browser would submit it: ticked boxes only, repeated names kept, the chosen option of each select. */
export type FilledForm = { action: string; method: string; entries: [string, string][] };

const attr = (attrs: string, name: string) => {
  const m = new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(attrs);
  return m ? decode(m[1]!) : undefined;
};
const flag = (attrs: string, name: string) => new RegExp(`\\s${name}(\\s|=|$)`, 'i').test(attrs);

export function filledFormsOf(html: string): FilledForm[] {
  const forms: FilledForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const entries: [string, string][] = [];
    const body = match[2]!;
    for (const control of body.matchAll(
      /<input\b([^>]*)>|<select\b([^>]*)>([\s\S]*?)<\/select>|<textarea\b([^>]*)>([\s\S]*?)<\/textarea>/gi,
    )) {
      if (control[1] !== undefined) {
        const attrs = control[1];
        const name = attr(attrs, 'name');
        const type = (attr(attrs, 'type') ?? 'text').toLowerCase();
        if (!name || type === 'submit' || type === 'button') continue;
        if ((type === 'checkbox' || type === 'radio') && !flag(attrs, 'checked')) continue;
        entries.push([name, attr(attrs, 'value') ?? (type === 'checkbox' || type === 'radio' ? 'on' : '')]);
      } else if (control[2] !== undefined) {
        const name = attr(control[2], 'name');
        if (!name) continue;
        const options = [...control[3]!.matchAll(/<option\b([^>]*)>([\s\S]*?)<\/option>/gi)];
        const chosen = options.find((o) => flag(o[1]!, 'selected')) ?? options[0];
        if (chosen) entries.push([name, attr(chosen[1]!, 'value') ?? decode(chosen[2]!.trim())]);
      } else {
        const name = attr(control[4]!, 'name');
        if (name) entries.push([name, decode(control[5]!)]);
      }
    }
    forms.push({ action: attr(match[1]!, 'action') ?? '', method: attr(match[1]!, 'method') ?? 'get', entries });
  }
  return forms;
}

export function filledFormWithAction(page: Page, action: string): FilledForm {
  const forms = filledFormsOf(page.html);
  const form = forms.find((f) => f.action === action) ?? forms.find((f) => f.action.includes(action));
  if (!form)
    throw new Error(
      `No form with action ${action} on ${page.url} (status ${page.status}):\n${page.html.slice(0, 2000)}`,
    );
  return form;
}

/**
 * Submits a filled form with some fields replaced: a string sets one value, an array sets several
 * (ticked checkboxes), an empty array clears the field.
 */
export async function submitFilled(
  agent: BrowserAgent,
  page: Page,
  form: FilledForm,
  changes: Record<string, string | string[]> = {},
): Promise<Page> {
  const body = new URLSearchParams();
  for (const [name, value] of form.entries) if (!(name in changes)) body.append(name, value);
  for (const [name, value] of Object.entries(changes))
    for (const v of Array.isArray(value) ? value : [value]) body.append(name, v);
  const target = new URL(form.action, page.url);
  if (form.method.toLowerCase() === 'get') {
    target.search = body.toString();
    return agent.navigate(target.toString());
  }
  return agent.navigate(target.toString(), {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

/**
 * Opens a page that starts a sign-in (a relying party's login route), fills in the gateway's login form
 * (and consent, if asked) and follows the redirects back; returns wherever the browser ends up.
 */
export async function signInThrough(
  agent: BrowserAgent,
  startUrl: string,
  username: string,
  password: string,
): Promise<Page> {
  let page = await agent.navigate(startUrl);
  if (page.url.includes('/interaction/') && page.html.includes('/login"')) {
    page = await agent.submit(page, formWithAction(page, '/login'), { username, password });
  }
  if (page.url.includes('/interaction/') && page.html.includes('/confirm"')) {
    page = await agent.submit(page, formWithAction(page, '/confirm'), {});
  }
  return page;
}

/** What a person reads of some HTML: its text, entities decoded (`&amp;` last), white space as one space. */
export function htmlText(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&#x3D;/g, '=')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/** What a person reads in the page's main part. */
export function mainText(page: Page): string {
  return htmlText(/<main[^>]*>([\s\S]*)<\/main>/.exec(page.html)?.[1] ?? page.html);
}
