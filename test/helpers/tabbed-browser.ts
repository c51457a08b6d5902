import { BrowserAgent } from './browser-agent.ts';

/**
 * A browser whose cookie jar keeps cookies of one name for different paths apart, as real ones do: the
 * gateway's sign-in keeps one `_interaction` cookie per sign-in, under its own path, and ending one sign-in
 * clears only its own. (BrowserAgent keeps one cookie per name, which would let the first tab's sign-in
 * erase the second's.) For tests of several tabs of one browser signing in at once.
 */
export class TabbedBrowser extends BrowserAgent {
  private readonly jar = new Map<string, { name: string; path: string; value: string }>();

  override cookieHeader(target: URL): string {
    const fits = (path: string) =>
      target.pathname === path || target.pathname.startsWith(path.endsWith('/') ? path : `${path}/`);
    return [...this.jar.entries()]
      .filter(([key, cookie]) => key.startsWith(`${target.host} `) && fits(cookie.path))
      .sort(([, a], [, b]) => b.path.length - a.path.length)
      .map(([, cookie]) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  override async request(address: string, init: RequestInit = {}): Promise<Response> {
    const target = new URL(address);
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(target);
    if (cookie) headers.set('cookie', cookie);
    if (!headers.has('accept')) headers.set('accept', 'text/html');
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';').map((part) => part.trim());
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      const path = attrs.find((a) => /^path=/i.test(a))?.slice(5) || '/';
      const expired = attrs.some(
        (a) => /^max-age=0/i.test(a) || (/^expires=/i.test(a) && new Date(a.slice(8)) < new Date()),
      );
      const key = `${target.host} ${path} ${name}`;
      if (expired || value === '') this.jar.delete(key);
      else this.jar.set(key, { name, path, value });
    }
    return response;
  }
}
