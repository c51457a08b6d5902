import type { Browser } from 'playwright-core';
import type { Campus } from '../helpers/federation.ts';
import { connectAs, login, type Login } from '../helpers/node.ts';
import { signInToPortal } from './browser.ts';

/**
 * People of a file's campus (read when called: its beforeAll makes the campus and the browser). `signIn`:
 * someone in a browser of their own, signed in to the portal, the login form filled over HTTP (the
 * browser then opens only the portal: what is tried is the portal once signed in). `connect`: someone's
 * SDK client at Engineering, each person signing in at the gateway once for the file, not once a client.
 */
export function portalPeople(campusOf: () => Campus, browserOf: () => Browser) {
  const logins = new Map<string, Promise<Login>>();
  return {
    signIn: (username: string, options: Parameters<typeof signInToPortal>[3] = {}) =>
      signInToPortal(browserOf(), campusOf().gateway.issuer, username, { overHttp: true, ...options }),
    async connect(username: string) {
      const campus = campusOf();
      if (!logins.has(username)) logins.set(username, login(campus.gateway, username));
      return connectAs(campus.gateway, campus.nodes.eng, username, await logins.get(username));
    },
  };
}
